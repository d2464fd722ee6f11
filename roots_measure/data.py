"""The shared data ($ROOTS_DATA_DIR) as measurement reads it, and THE list of clean sources.

Clean prose is what every filter must keep. Two measurements use it: the rule filters'
quality (`clean_items`: every source, tagged with its language group) and the quality
classifier (`clean_sources(side)`: sources split into a training side and a held-out side, so
the model is judged on sources it never saw). Both read `CLEAN_SOURCES`; what each does
beyond it (WMT22's Chinese references only for the filters, Wikipedia paragraphs for the
model) is written next to the function that does it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pipelines.datadir import dataset_path
from pipelines.files import read_jsonl

C4_JUDGMENTS = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "c4_judgments.tsv"


@dataclass(frozen=True)
class CleanSource:
    name: str          # corpus_web_mixed `source`, or a shared-data folder
    kind: str          # "corpus" (a corpus_web_mixed source), "qa" (contexts of dev.jsonl), "cls" (test.jsonl text)
    group: str         # language group the filters are judged on: zh-Hans, zh-Hant, en
    model_side: str    # "train" or "heldout" for the quality classifier; "" when it does not use the source
    in_filter_eval: bool = True
    label: str = ""    # the model report's name for it (default: name)


# One list; its order is each consumer's order (the model samples source by source, the
# filter evaluation keeps the first copy of a text).
CLEAN_SOURCES = (
    CleanSource("zh-paper-abstracts", "corpus", "zh-Hans", "train"),
    CleanSource("zh-c3-passages", "corpus", "zh-Hans", "train"),
    CleanSource("qa_cmrc2018_dev", "qa", "zh-Hans", "train"),
    CleanSource("wiki-en", "corpus", "en", "train"),
    CleanSource("zh-wiki-paragraphs", "corpus", "zh-Hans", "heldout"),
    CleanSource("qa_drcd", "qa", "zh-Hant", "heldout", label="qa_drcd (Traditional)"),
    CleanSource("wmt22-human-translation", "corpus", "zh-Hans", "heldout"),
    CleanSource("qa_squad_v1.1_dev", "qa", "en", "train"),
    CleanSource("cls_agnews", "cls", "en", "heldout", in_filter_eval=False),
)


def corpus() -> list[dict]:
    """Every document of corpus_web_mixed, files in name order."""
    return [d for path in sorted(dataset_path("corpus_web_mixed").glob("*.jsonl")) for d in read_jsonl(path)]


def qa_contexts(folder: str) -> list[str]:
    """The distinct contexts of a QA folder's dev.jsonl, first occurrence order."""
    return list(dict.fromkeys(r["context"] for r in read_jsonl(dataset_path(folder) / "dev.jsonl")))


def c4_judgments() -> dict[str, str]:
    """C4 page id -> clean | junk | mixed, as a reader judged 300 pages (see the file's header)."""
    rows = [l.rstrip("\n").split("\t") for l in C4_JUDGMENTS.open(encoding="utf-8") if l.strip() and not l.startswith("#")]
    return {r[0]: r[1] for r in rows[1:]}


def unique(texts: Iterable[str], min_chars: int) -> list[str]:
    """Stripped texts of at least `min_chars` characters, each once, in order."""
    seen, out = set(), []
    for t in texts:
        t = (t or "").strip()
        if len(t) >= min_chars and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _paragraphs(texts: Iterable[str], min_chars: int = 200) -> Iterable[str]:
    """Wikipedia articles are long: their paragraphs are the documents."""
    for t in texts:
        for p in t.split("\n"):
            if len(p) >= min_chars:
                yield p


def clean_sources(side: str) -> dict[str, list[str]]:
    """The quality classifier's clean prose by source; side "train" or "heldout" (disjoint
    sources). Texts of 50+ characters, English Wikipedia as paragraphs of 200+."""
    if side not in ("train", "heldout"):
        raise ValueError(f"side must be 'train' or 'heldout', got {side!r}")
    by_source: dict[str, list[str]] = {}
    for d in corpus():
        by_source.setdefault(d["source"], []).append(d["text"])
    out = {}
    for s in CLEAN_SOURCES:
        if s.model_side != side:
            continue
        if s.kind == "qa":
            texts = unique((r["context"] for r in read_jsonl(dataset_path(s.name) / "dev.jsonl")), 50)
        elif s.kind == "cls":
            texts = unique((r["text"] for r in read_jsonl(dataset_path(s.name) / "test.jsonl")), 50)
        elif s.name == "wiki-en":
            texts = unique(_paragraphs(by_source[s.name]), 200)
        else:
            texts = unique(by_source[s.name], 50)
        out[s.label or s.name] = texts
    return out


def clean_items(docs: list[dict]) -> list[dict]:
    """The rule filters' clean prose: distinct texts of the clean corpus sources, the C4 pages
    a reader judged clean and the QA contexts, each tagged with language group and source.
    Of WMT22 only the Chinese references count: the English ones translate Japanese shop
    adverts (not prose)."""
    items, seen = [], set()

    def add(text, source, group):
        if text and text not in seen:
            seen.add(text)
            items.append({"text": text, "source": source, "group": group, "side": "clean"})

    sources = [s for s in CLEAN_SOURCES if s.in_filter_eval]
    in_corpus = {s.name: s.group for s in sources if s.kind == "corpus"}
    c4 = c4_judgments()
    for d in docs:
        src = d["source"]
        if src == "wmt22-human-translation":
            if "-enzh-" in d["id"]:
                add(d["text"], "wmt22-human-translation-zh", in_corpus[src])
        elif src in in_corpus:
            add(d["text"], src, in_corpus[src])
        elif src == "c4-en" and c4.get(d["id"]) == "clean":
            add(d["text"], "c4-en-judged-clean", "en")
    for s in sources:
        if s.kind == "qa":
            for text in qa_contexts(s.name):
                add(text, s.name, s.group)
    return items
