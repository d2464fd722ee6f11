"""The Document schema shared by every ROOTS stage, and stable ids.

In Beam a document is a plain dict (cheap to pickle and to fuse); this module says which
keys it has and how it maps to Parquet.
"""
from __future__ import annotations

import hashlib

import pyarrow as pa

SIGNAL_NAMES = (
    "n_chars", "n_words", "mean_word_length", "char_repetition", "word_repetition",
    "special_char_ratio", "stopword_ratio", "flagged_word_ratio", "ellipsis_line_ratio",
    "bullet_line_ratio", "lorem_ipsum", "digit_ratio", "word_diversity",
    "sentence_line_ratio",
)

# A web document's fields (its `web` dict) that the kept rows carry.
WEB_FIELDS = ("title", "domain", "fetch_date", "warc_record_id", "http_status", "content_type", "encoding",
              "encoding_decision", "wet_language")

KEPT_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("text", pa.string()),
    ("source", pa.string()),
    ("url", pa.string()),
    ("lang", pa.string()),
    ("lang_score", pa.float64()),
    ("input_file", pa.string()),
    ("boilerplate_lines_removed", pa.int64()),
    ("signals", pa.struct([(name, pa.float64()) for name in SIGNAL_NAMES])),
    # Unique per input record (input file + offset): ids repeat across files, keys never do.
    ("key", pa.string()),
    ("script", pa.string()),          # Han text: Hans or Hant (signals are computed on Simplified)
    ("quality_score", pa.float64()),  # the quality classifier's score, when one is configured
    # Web records (WARC / WET / HTML inputs; null for other inputs): where and when the page
    # was fetched, how its bytes were decoded, and its title. `url` above is the target URI.
    *[(name, pa.int64() if name == "http_status" else pa.string()) for name in WEB_FIELDS],
])


def stable_id(input_file: str, offset: int, text: str) -> str:
    """An id for records that have none: the same input gives the same id on every run.

    Content alone is not enough (exact duplicates would share an id), so the record's file
    and position are hashed in too.
    """
    h = hashlib.sha1(f"{input_file}\x00{offset}\x00".encode("utf-8"))
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:20]


def new_document(*, id: str, text: str, source: str | None, url: str | None, input_file: str,
                 key: str | None = None) -> dict:
    return {"id": id, "key": key or id, "text": text, "source": source, "url": url, "lang": None, "lang_score": None,
            "input_file": input_file, "boilerplate_lines_removed": 0, "signals": None, "script": None,
            "quality_score": None}


def kept_batch(docs: list[dict]) -> pa.RecordBatch:
    """The kept rows of `docs` as one record batch (pyarrow builds it in C++, where Beam's
    WriteToParquet fills its columns one row and one field at a time in Python)."""
    return pa.RecordBatch.from_pylist([to_kept_row(d) for d in docs], schema=KEPT_SCHEMA)


def to_kept_row(doc: dict) -> dict:
    """Only the schema's keys, with signals complete (Parquet needs a fixed shape)."""
    row = {name: doc.get(name) for name in KEPT_SCHEMA.names}
    web = doc.get("web")
    if web:
        for name in WEB_FIELDS:
            row[name] = web.get(name)
    sig = doc.get("signals") or {}
    row["signals"] = {name: sig.get(name) for name in SIGNAL_NAMES}
    return row


def from_kept_row(row: dict) -> dict:
    """A kept row back to the document shape the pipeline writes to dropped/ (a sharded run
    turns a kept representative into a dropped duplicate): web fields go back under `web`,
    and a document that had none has none."""
    doc = {k: v for k, v in row.items() if k not in WEB_FIELDS}
    web = {k: row[k] for k in WEB_FIELDS if row.get(k) is not None}
    if web:
        doc["web"] = web
    return doc
