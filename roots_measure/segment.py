"""How far a segmentation backend agrees with the jieba reference: on the words themselves
and on the quality-filter decisions made from them. Used by benchmarks/bench_segment.py
(whole corpus) and tests/pipelines/test_segment.py (a slice), so both measure the same way.
"""
from __future__ import annotations

import contextlib
import copy
from collections import Counter
from dataclasses import dataclass, field

from pipelines.text import segment
from pipelines.text.script import is_chinese


def word_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Character spans of `words` in `text` (words are in order and are substrings)."""
    spans, pos = [], 0
    for w in words:
        start = text.find(w, pos)
        if start < 0:  # cannot happen for a segmenter's output; keep the word, lose its place
            spans.append((-1, len(w)))
            continue
        spans.append((start, start + len(w)))
        pos = start + len(w)
    return spans


def word_agreement(texts: list[str], lang: str, reference: str, candidate: str) -> dict:
    """Share of texts with identical word lists, and token-level agreement: the reference's
    words found with the same span in the candidate's output (recall), and the converse
    (precision). A span match is stricter than a bag-of-words match: the same word cut at
    a different place does not count."""
    ref_seg, cand_seg = segment.Segmenter(reference), segment.Segmenter(candidate)
    identical = ref_n = cand_n = common = 0
    for text in texts:
        a, b = ref_seg.words(text, lang), cand_seg.words(text, lang)
        if a == b:
            identical += 1
            ref_n += len(a)
            cand_n += len(b)
            common += len(a)
            continue
        sa, sb = word_spans(text, a), word_spans(text, b)
        ref_n += len(sa)
        cand_n += len(sb)
        common += sum((Counter(sa) & Counter(sb)).values())
    return {
        "texts": len(texts),
        "identical_texts": identical,
        "identical_share": identical / len(texts) if texts else 1.0,
        "reference_words": ref_n,
        "candidate_words": cand_n,
        "token_recall": common / ref_n if ref_n else 1.0,
        "token_precision": common / cand_n if cand_n else 1.0,
    }


@contextlib.contextmanager
def backend(config, name: str):
    """A pipeline config whose processor segments with backend `name` (the `segment.backend`
    key; every step reads it from there, none from process-wide state)."""
    yield config.with_overrides({"segment": {"backend": name}}, source=f"segment backend {name}")


@dataclass
class Decisions:
    """One processor run: the drop reason of every document (None: kept), and for each
    document that reached the quality filters its language and each filter's verdict taken
    on its own (first_failure only reports the first failing filter)."""
    reasons: list[str | None] = field(default_factory=list)
    verdicts: list[dict[str, bool] | None] = field(default_factory=list)
    langs: list[str | None] = field(default_factory=list)
    zh_texts: list[str] = field(default_factory=list)  # the segmented text of Chinese documents


def run_processor(config, docs: list[dict], backend_name: str) -> Decisions:
    """Run `pipelines.process.DocumentProcessor` on copies of `docs` with one backend."""
    from pipelines.process import DocumentProcessor

    out = Decisions()
    with backend(config, backend_name) as cfg:
        processor = DocumentProcessor(cfg)
        processor.setup()
        filters = cfg.filters
        for doc in docs:
            d = copy.copy(doc)
            out.reasons.append(processor(d))
            signals = d.get("signals")
            out.langs.append(d.get("lang"))
            if signals is None:
                out.verdicts.append(None)
                continue
            out.verdicts.append({f.name: f.passes(signals, d["lang"]) for f in filters})
            if is_chinese(d["lang"]):
                out.zh_texts.append(d["text"])
    return out


def decision_differences(ref: Decisions, cand: Decisions) -> dict:
    """Per drop reason: counts in both runs and documents whose final outcome moved into or
    out of it; per filter (each judged on its own): documents whose verdict flipped, as a
    share of the documents it judged. Shares are of all documents for drop reasons."""
    n = len(ref.reasons)
    reasons = sorted({r or "kept" for r in ref.reasons + cand.reasons})
    by_reason = {}
    for r in reasons:
        a = [(x or "kept") == r for x in ref.reasons]
        b = [(x or "kept") == r for x in cand.reasons]
        changed = sum(x != y for x, y in zip(a, b))
        by_reason[r] = {"reference": sum(a), "candidate": sum(b), "changed": changed, "changed_share": changed / n if n else 0.0}
    by_filter: dict[str, dict] = {}
    for va, vb in zip(ref.verdicts, cand.verdicts):
        if va is None or vb is None:
            continue
        for name, passed in va.items():
            s = by_filter.setdefault(name, {"judged": 0, "reference_fail": 0, "candidate_fail": 0, "flipped": 0})
            s["judged"] += 1
            s["reference_fail"] += not passed
            s["candidate_fail"] += not vb[name]
            s["flipped"] += passed != vb[name]
    for s in by_filter.values():
        s["flipped_share"] = s["flipped"] / s["judged"] if s["judged"] else 0.0
    outcome_changed = sum((a or "kept") != (b or "kept") for a, b in zip(ref.reasons, cand.reasons))
    return {"documents": n, "outcome_changed": outcome_changed, "by_reason": by_reason, "by_filter": by_filter}
