"""Helpers shared by the sacrebleu-based metric modules (imported by absolute name: `evaluate`
copies each module's folder on load, so a sibling folder is not importable relatively)."""
import datasets
import numpy

# the two reference forms the Hub module takes: a list per prediction, or one string per prediction
REFERENCE_FORMS = [
    datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}),
    datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
]


def as_reference_lists(references):
    """One list of references per prediction, whichever form was given."""
    return [[refs] if isinstance(refs, str) else list(refs) for refs in references]


def reference_streams(references, name):
    """sacrebleu wants one stream per reference position, not one list per hypothesis."""
    ref_counts = {len(refs) for refs in references}
    if len(ref_counts) > 1:
        raise ValueError(f"{name} needs the same number of references per prediction, got {sorted(ref_counts)}")
    n_refs = ref_counts.pop() if ref_counts else 1
    return [[refs[i] for refs in references] for i in range(n_refs)]


def bootstrap_stderr(metric, stats, iters, seed):
    """Standard deviation of the corpus score over resamples of the sentences.

    Resamples sacrebleu's per-sentence sufficient statistics (as its own paired bootstrap
    does) instead of re-tokenising the corpus for every draw.
    """
    n = len(stats)
    if iters <= 0 or n < 2:
        return None
    table = numpy.asarray(stats, dtype=float)
    rng = numpy.random.default_rng(seed)
    scores = [metric._compute_score_from_stats(list(table[rng.integers(0, n, n)].sum(axis=0))).score for _ in range(iters)]
    return float(numpy.std(scores, ddof=1))


# Span-extraction QA (squad, cmrc2018): the input forms the Hub `squad` module accepts.
SPAN_QA_INPUTS = ("predictions: answer strings; references: lists of gold answers (or one gold string each); "
                  "or the Hub squad module's form (dicts with id/prediction_text and id/answers); per_sample: bool.")
SPAN_QA_FEATURES = [
    datasets.Features({"predictions": datasets.Value("string"),
                       "references": datasets.Sequence(datasets.Value("string"))}),
    datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
    # the Hub `squad` module's form: SQuAD-format dicts matched by id
    datasets.Features({
        "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
        "references": {"id": datasets.Value("string"), "answers": datasets.Sequence(
            {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")})},
    }),
]


def squad_format_inputs(predictions, references):
    """(answer strings, lists of gold answers) from any form the QA modules take: plain strings,
    one gold string per prediction, or the Hub `squad` module's dicts (predictions
    {id, prediction_text} and references {id, answers: {text: [...]}} matched by id)."""
    if predictions and isinstance(predictions[0], dict):
        by_id = {p["id"]: p["prediction_text"] for p in predictions}
        missing = [r["id"] for r in references if r["id"] not in by_id]
        if missing:
            raise ValueError(f"no prediction for reference id(s) {missing[:5]}")
        return [by_id[r["id"]] for r in references], [list(r["answers"]["text"]) for r in references]
    return list(predictions), as_reference_lists(references)
