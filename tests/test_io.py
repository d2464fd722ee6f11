"""Readers: every record becomes a document or a dead-letter record that says why."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.io import ReadSpec, detect_format, expand_inputs, iter_records


def _records(path, **kw):
    return list(iter_records(str(path), ReadSpec(**kw)))


def test_jsonl_good_and_bad_lines(tmp_path, corpus_docs):
    real = list(corpus_docs.values())[:3]
    path = tmp_path / "mixed.jsonl"
    with path.open("wb") as f:
        for d in real:
            f.write(json.dumps(d, ensure_ascii=False).encode() + b"\n")
        f.write(b'{"id": "broken", "text": "unterminated\n')            # invalid JSON
        f.write(b'{"id": "no-text", "body": "wrong field"}\n')          # missing text field
        f.write(b'{"id": "num", "text": 42}\n')                        # text is not a string
        f.write(b'["a", "list"]\n')                                     # not an object
        f.write(b'{"id": "latin1", "text": "caf\xe9"}\n')               # undecodable bytes
        f.write(b"\n")                                                  # blank line: not a record
        f.write(b'{"id": "empty", "text": ""}\n')                       # empty text: a document (dropped later)
    out = _records(path)
    kinds = [k for k, _ in out]
    assert kinds.count("doc") == 4 and kinds.count("malformed") == 5
    errors = [r["error"] for k, r in out if k == "malformed"]
    assert any(e.startswith("invalid JSON") for e in errors)
    assert any("missing text field 'text'" in e for e in errors)
    assert any("not a string" in e for e in errors)
    assert any("not an object" in e for e in errors)
    bad = next(r for k, r in out if k == "malformed" and r["error"].startswith("undecodable"))
    assert "caf\\xe9" in bad["raw"] and bad["index"] == 7 and bad["input_file"] == str(path)
    docs = [r for k, r in out if k == "doc"]
    assert [d["id"] for d in docs[:3]] == [d["id"] for d in real]
    assert docs[0]["text"] == real[0]["text"] and docs[0]["source"] == real[0]["source"]


def test_gzip_parquet_and_text_inputs(tmp_path, corpus_docs):
    real = list(corpus_docs.values())[:5]
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        for d in real:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    assert [r["id"] for _, r in _records(gz)] == [d["id"] for d in real]

    pqf = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist([{"content": d["text"], "url": d["url"]} for d in real]), pqf)
    out = _records(pqf, text_field="content")
    assert [r["text"] for _, r in out] == [d["text"] for d in real]

    txt = tmp_path / "c.txt"
    txt.write_text(real[0]["text"], encoding="utf-8")
    (doc_kind, doc), = _records(txt)
    assert doc["text"] == real[0]["text"]
    lines = _records(txt, text_unit="line")
    assert len(lines) == len([l for l in real[0]["text"].split("\n") if l.strip()])


def test_ids_are_stable_and_unique_when_missing(tmp_path):
    path = tmp_path / "noid.jsonl"
    path.write_text('{"text": "same"}\n{"text": "same"}\n', encoding="utf-8")
    first = [r["id"] for _, r in _records(path)]
    assert first == [r["id"] for _, r in _records(path)]
    assert len(set(first)) == 2


def test_empty_truncated_and_corrupt_files(tmp_path, corpus_docs):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert _records(empty) == []
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in list(corpus_docs.values())[:200]).encode()
    truncated = tmp_path / "truncated.jsonl.gz"
    whole = gzip.compress(payload)
    truncated.write_bytes(whole[: len(whole) // 2])
    out = _records(truncated)
    assert 0 < sum(k == "doc" for k, _ in out) < 200
    assert out[-1][0] == "malformed"  # the torn last line is dead-lettered, not lost
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not parquet")
    (kind, rec), = _records(garbage)
    assert kind == "malformed" and rec["error"].startswith("unreadable parquet file after 0 records")


def test_format_detection_and_globs(tmp_path):
    assert detect_format("gs://b/x.jsonl.gz") == "jsonl"
    assert detect_format("a.parquet") == "parquet" and detect_format("a.txt") == "text"
    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_format("a.csv")
    with pytest.raises(ValueError, match="matches no file"):
        expand_inputs([str(tmp_path / "nothing-*.jsonl")])
