"""Measurement: what judges the pipeline rather than runs it. Evaluation sets built from the
shared data (clean prose, synthetic junk, planted duplicates and PII), agreement checks of the
fast segmentation backend, language-ID accuracy, and training the quality classifier whose
model `pipelines.quality_model` scores with.

Why a package of its own: `pipelines` is what a Dataflow worker installs (the core
dependencies). Nothing here runs on a worker, and training needs `fasttext-new` (the
`measure` extra), so `pipelines` never imports this package, not even inside a function
(tests/test_layout.py checks it). This package imports `pipelines`; `benchmarks/` and `tests/`
import this package (installed with `pip install -e .[all]`), never each other by path.

    roots_measure.data           the shared data read once: corpus, QA contexts, C4 judgments, THE clean sources
    roots_measure.junk           THE synthetic-junk generator (two recipes) and real boilerplate pages
    roots_measure.filter_eval    the rule filters' quality: clean kept, junk dropped (benchmarks/quality_eval.py)
    roots_measure.quality_model  training the fastText quality classifier, ROC-AUC, its data
    roots_measure.cli            `roots-measure train-quality`
    roots_measure.dedup          planted near-duplicates and brute-force ground truth
    roots_measure.segment        segmentation backends against the jieba reference
    roots_measure.langid         language-ID accuracy
    roots_measure.pii            planted PII set and its precision / recall
    roots_measure.boilerplate    boilerplate-line removal on labelled pages
    roots_measure.web_spam       the labelled Common Crawl excerpt of the spam check
    roots_measure.extraction     main text against a reference: token precision / recall / F1
    roots_measure.peers          the datatrove job the pipeline is timed against
    roots_measure.timing         CPU seconds, peak RSS of a process tree, Parquet rows
"""
