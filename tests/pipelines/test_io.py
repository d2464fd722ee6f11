"""Readers: every record becomes a document or a dead-letter record that says why, and where."""
import gzip
import io
import json
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pipelines.io as io_mod
import pipelines.readers.jsonl as jsonl_reader
from pipelines.io import FileRange, ReadSpec, detect_format, expand_inputs, iter_records, plan_ranges, read_range


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
    content = path.read_bytes()
    assert "caf\\xe9" in bad["raw"] and bad["input_file"] == str(path)
    assert content[bad["offset"]:].startswith(b'{"id": "latin1"')  # the byte offset of the bad line
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
    originals = list(corpus_docs.values())[:200]
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in originals).encode()
    truncated = tmp_path / "truncated.jsonl.gz"
    whole = gzip.compress(payload)
    truncated.write_bytes(whole[: len(whole) // 2])
    # Ground truth from zlib directly: the complete lines inside the surviving half.
    prefix = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) // 2])
    complete = prefix.count(b"\n")
    assert 0 < complete < 200
    out = _records(truncated)
    docs = [r for k, r in out if k == "doc"]
    assert [d["id"] for d in docs] == [d["id"] for d in originals[:complete]]  # everything before the damage
    kind, corrupt = out[-1]
    assert kind == "malformed" and len(out) == complete + 1
    assert corrupt["error"].startswith("corrupt jsonl file") and corrupt["records_before"] == complete
    assert corrupt["offset"] == prefix.rindex(b"\n") + 1  # where the damage begins (decompressed bytes)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not parquet")
    (kind, rec), = _records(garbage)
    assert kind == "malformed" and rec["error"].startswith("corrupt parquet file after 0 records")


class _FlakyFile(io.RawIOBase):
    """A store file whose reads fail after `ok_bytes`, as a dropped GCS connection does."""

    def __init__(self, data, ok_bytes):
        self.buf, self.ok_bytes = io.BytesIO(data), ok_bytes

    def readable(self):
        return True

    def read(self, n=-1):
        if self.buf.tell() >= self.ok_bytes:
            raise ConnectionResetError("connection reset by peer")
        return self.buf.read(min(n if n >= 0 else 1 << 30, self.ok_bytes - self.buf.tell()))

    def seek(self, pos, whence=0):
        return self.buf.seek(pos, whence)

    def tell(self):
        return self.buf.tell()


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz"])
def test_transient_read_errors_raise_instead_of_ending_the_file(tmp_path, corpus_docs, monkeypatch, name):
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in list(corpus_docs.values())[:300]).encode()
    data = gzip.compress(payload) if name.endswith(".gz") else payload
    monkeypatch.setattr(io_mod.FileSystems, "open", lambda path, **kw: _FlakyFile(data, len(data) // 2))
    with pytest.raises(ConnectionResetError):
        list(read_range(FileRange(str(tmp_path / name), 0, -1)))


def _write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("split", [1, 997, 10_000, 1 << 30])
def test_ranges_read_every_line_exactly_once(tmp_path, corpus_docs, split):
    docs = list(corpus_docs.values())[:400]
    path = tmp_path / "big.jsonl"
    _write_jsonl(path, docs)
    with path.open("ab") as f:
        f.write(b'{"id": "no-newline-at-end", "text": "last"}')
    size = path.stat().st_size
    spec = ReadSpec(split_bytes=split)
    ranges = plan_ranges(str(path), size, spec)
    assert len(ranges) == (1 if split >= size else -(-size // split))
    out = [item for rng in ranges for item in read_range(rng, spec)]
    assert [r["id"] for _, r in out] == [d["id"] for d in docs] + ["no-newline-at-end"]
    assert len({r["key"] for _, r in out}) == len(out)
    whole = list(read_range(FileRange(str(path), 0, -1), spec))
    assert [r["key"] for _, r in whole] == [r["key"] for _, r in out]


def test_parquet_row_group_ranges(tmp_path, corpus_docs):
    docs = list(corpus_docs.values())[:500]
    path = tmp_path / "rg.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": d["id"], "text": d["text"]} for d in docs]), path, row_group_size=37)
    spec = ReadSpec(split_bytes=20_000)
    ranges = plan_ranges(str(path), path.stat().st_size, spec)
    assert len(ranges) > 3
    out = [r for rng in ranges for _, r in read_range(rng, spec)]
    assert [r["id"] for r in out] == [d["id"] for d in docs]
    assert len({r["key"] for r in out}) == len(docs)


def test_keys_are_unique_when_ids_repeat_across_files(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"id": 0, "text": "X"}\n{"id": 1, "text": "Y"}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"id": 0, "text": "Z"}\n{"id": 1, "text": "X"}\n', encoding="utf-8")
    docs = [r for f in ("a.jsonl", "b.jsonl") for _, r in _records(tmp_path / f)]
    assert [d["id"] for d in docs] == ["0", "1", "0", "1"]
    assert len({d["key"] for d in docs}) == 4


def test_format_detection_and_globs(tmp_path):
    assert detect_format("gs://b/x.jsonl.gz") == "jsonl"
    assert detect_format("a.parquet") == "parquet" and detect_format("a.txt") == "text"
    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_format("a.csv")
    with pytest.raises(ValueError, match="matches no file"):
        expand_inputs([str(tmp_path / "nothing-*.jsonl")])


def test_orjson_path_reads_what_json_reads(tmp_path, corpus_docs, monkeypatch):
    """The fast parser must not change a record: lines orjson rejects or would read
    differently (lone surrogate escapes, NaN/Infinity, integers beyond 64 bits) go to json,
    and dead letters keep json's messages."""
    real = list(corpus_docs.values())[:300]
    path = tmp_path / "edge.jsonl"
    with path.open("wb") as f:
        for d in real:
            f.write(json.dumps(d, ensure_ascii=False).encode() + b"\n")
        base = json.dumps(real[0]["text"], ensure_ascii=False).encode()
        f.write(b'{"id": "surrogate", "text": ' + base[:-1] + b'\\ud83d"}\n')          # lone high surrogate
        f.write(b'{"id": "nan", "text": ' + base + b', "score": NaN, "len": 1e400}\n')  # json-only numbers
        f.write(b'{"id": 123456789012345678901234567890, "text": ' + base + b'}\n')    # id beyond 64 bits
        f.write(b'{"id": -9223372036854775809, "text": ' + base + b', "url": 18446744073709551616}\n')
        f.write(b'{"id": "dup", "text": "first", "text": ' + base + b'}\n')             # duplicate key: last wins
        f.write(b'{"id": "bad", "text": "x",}\n')                                      # invalid JSON
    fast = _records(path)
    monkeypatch.setattr(jsonl_reader, "_fast_record", lambda line, spec: None)  # json for every line
    assert fast == _records(path)
    docs = {r["id"]: r for k, r in fast if k == "doc"}
    assert len(docs) == len(real) + 5
    assert docs["surrogate"]["text"].endswith("\ufffd")  # a lone surrogate has no UTF-8 form
    assert "123456789012345678901234567890" in docs and "-9223372036854775809" in docs
    assert docs["-9223372036854775809"]["url"] == "18446744073709551616"
    assert docs["dup"]["text"] == real[0]["text"]
    (bad,) = [r for k, r in fast if k == "malformed"]
    assert bad["error"].startswith("invalid JSON: Expecting property name") and bad["raw"] == '{"id": "bad", "text": "x",}'


def test_kept_batch_holds_each_documents_kept_fields(corpus_docs):
    from pipelines.config import PipelineConfig
    from pipelines.document import KEPT_SCHEMA, SIGNAL_NAMES, kept_batch
    from pipelines.process import DocumentProcessor

    processor = DocumentProcessor(PipelineConfig.load())
    docs = []
    for d in list(corpus_docs.values())[:400]:
        doc = {"id": d["id"], "key": d["id"], "text": d["text"], "source": d.get("source"), "url": None,
               "input_file": "x.jsonl", "lang": None, "lang_score": None, "boilerplate_lines_removed": 0,
               "signals": None, "script": None, "quality_score": None}
        processor(doc)
        docs.append(doc)
    # Edge cases: no signals at all, signals missing a name, extra keys the schema lacks.
    docs += [{"id": "a", "text": "t", "signals": None}, {"id": "b", "text": "u", "signals": {"n_chars": 1.0}, "pii": {}}]
    batch = kept_batch(docs)
    assert batch.schema == KEPT_SCHEMA and batch.num_rows == len(docs)
    rows = batch.to_pylist()
    for doc, row in zip(docs, rows):
        for name in KEPT_SCHEMA.names:
            if name == "signals":
                # Parquet needs a fixed shape: every signal named, null where the document has none.
                assert row[name] == {s: (doc.get("signals") or {}).get(s) for s in SIGNAL_NAMES}
            else:
                assert row[name] == doc.get(name), name
    assert batch.column(KEPT_SCHEMA.get_field_index("signals")).null_count == 0
    assert sum(r["lang"] is not None for r in rows) > 300


def test_json_lines_round_trip_including_what_orjson_refuses():
    from pipelines.transforms import to_json_line

    records = [{"id": "1", "text": "中文 text", "signals": {"n_chars": 7.0}, "pii": None, "ok": True},
               {"raw": "half a pair \ud800 here"}, {"big": 2 ** 70}, {1: "int key"}]
    for record in records:
        line = to_json_line(record)
        assert "\n" not in line
        assert json.loads(line.encode("utf-8")) == ({"1": "int key"} if 1 in record else record)
    assert "中文" in to_json_line({"big": 2 ** 70, "t": "中文"})  # escapes only where UTF-8 needs them


def test_a_lone_surrogate_escape_in_the_input_does_not_stop_the_run(tmp_path):
    """`"\\ud800"` is valid JSON and decodes to a str no UTF-8 file (and no Beam coder) can
    hold: the lone surrogate becomes U+FFFD, the run finishes and accounts for every record."""
    from pipelines.cli import main
    from pipelines.stats import check_conservation

    long_text = "这是一个普通的中文句子，用来凑够长度。" * 20
    (tmp_path / "in.jsonl").write_text(
        '{"id": "short", "text": "Hi \\ud800"}\n'
        '{"id": "long", "text": "' + long_text + '\\ud800' + long_text + '"}\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--dedup", "none",
                 "--no_progress", "--direct_num_workers=1"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    check_conservation(stats)
    assert stats["read"] == 2
    dropped = {r["id"]: r for path in out.glob("dropped/*.gz") for r in map(json.loads, gzip.open(path))}
    kept = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    assert sorted([*dropped, *kept]) == ["long", "short"]
    assert dropped["short"]["text"] == "Hi \ufffd"  # as a decoder replaces an undecodable byte
