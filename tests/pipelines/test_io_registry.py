"""The input-format registry (pipelines/readers/): a format is one Reader class. A reader defined
here, registered for the length of a test, is read by a real local `roots-pipeline run`, found by
its file suffix or named by --input_format, and gone again once unregistered."""
import glob
import gzip
import json

import pytest

import pipelines.io as io_mod
from pipelines import readers
from pipelines.cli import main
from pipelines.readers import Reader, register, rows, unregister


def _decode_tsv(path, offset, line, spec):
    if not line.strip():
        return None
    rid, _, text = line.decode("utf-8").rstrip("\n").partition("\t")
    return rows.document({spec.id_field: rid, spec.text_field: text}, path, offset, spec)


class Tsv(Reader):
    """`id<TAB>text` a line: all a new format needs (this class, in a file of pipelines/readers/)."""

    name = "tsv"
    suffixes = (".tsv",)

    def plan(self, path, size, step, spec):
        return rows.line_ranges(path, size, step)

    def read(self, raw, rng, spec, state):
        units = rows.lines(rows.decompressed(raw, rng.path), rng.start, rng.end)
        return rows.read_units(units, rng.path, spec, state, _decode_tsv)


@pytest.fixture
def tsv():
    register(Tsv)
    yield Tsv
    unregister("tsv")


@pytest.fixture(scope="module")
def tsv_rows(corpus_docs):
    """(id, text) of real corpus documents, their text on one line (TSV has no escapes)."""
    picked = sorted(corpus_docs.items())[:40]
    return [(i, " ".join(d["text"].split())) for i, d in picked]


def _write_tsv(path, rows_):
    path.write_text("".join(f"{i}\t{t}\n" for i, t in rows_), encoding="utf-8")


def _run(out, *args):
    assert main(["run", "--output", str(out), "--dedup", "none", "--no_progress", "--direct_num_workers=1",
                 "--output_format", "jsonl", *map(str, args)]) == 0
    stats = json.loads((out / "stats.json").read_text())
    docs = []
    for part in ("data", "dropped"):
        for name in sorted(glob.glob(str(out / part / "*.jsonl.gz"))):
            with gzip.open(name, "rt", encoding="utf-8") as f:
                docs.extend(json.loads(line) for line in f)
    return stats, docs


@pytest.mark.slow
def test_a_reader_defined_here_is_read_by_a_pipeline_run(tmp_path, tsv, tsv_rows):
    _write_tsv(tmp_path / "a.tsv", tsv_rows[:25])
    _write_tsv(tmp_path / "b.tsv", tsv_rows[25:])
    stats, docs = _run(tmp_path / "out", "--input", tmp_path / "*.tsv")  # told by the suffix
    assert stats["read"] == len(tsv_rows) and stats["malformed"] == 0
    assert sorted(d["id"] for d in docs) == sorted(i for i, _ in tsv_rows)  # each row exactly once
    assert {d["input_file"].rsplit("/", 1)[-1] for d in docs} == {"a.tsv", "b.tsv"}
    assert stats["kept"] > 0 and sum(stats["dropped"].values()) > 0
    # a record's key ends in its line's byte offset in its file (counted here from the rows written)
    offsets = {}
    for part in (tsv_rows[:25], tsv_rows[25:]):
        at = 0
        for i, t in part:
            offsets[i] = at
            at += len(f"{i}\t{t}\n".encode("utf-8"))
    assert {d["id"]: int(d["key"].rsplit(":", 1)[1]) for d in docs} == offsets

    _write_tsv(tmp_path / "rows.data", tsv_rows[:10])  # a name that says nothing: --input_format names it
    stats, docs = _run(tmp_path / "named", "--input", tmp_path / "rows.data", "--input_format", "tsv")
    assert stats["read"] == 10 and sorted(d["id"] for d in docs) == sorted(i for i, _ in tsv_rows[:10])


def test_the_cli_choices_and_detection_follow_the_registry(tmp_path, tsv):
    assert "tsv" in io_mod.FORMATS and "tsv" not in io_mod.WEB_FORMATS
    assert io_mod.detect_format("x/a.tsv.gz") == "tsv"
    unregister("tsv")
    try:
        assert "tsv" not in io_mod.FORMATS
        with pytest.raises(ValueError, match="cannot tell the format of 'a.tsv'"):
            io_mod.detect_format("a.tsv")
        with pytest.raises(SystemExit):  # argparse: invalid choice
            main(["run", "--input", str(tmp_path / "a.tsv"), "--output", str(tmp_path / "out"),
                  "--input_format", "tsv"])
    finally:
        register(Tsv)  # the fixture unregisters it


def test_a_claimed_name_or_ending_is_refused(tsv):
    before = readers.names()

    class Again(Tsv):
        suffixes = (".tab",)

    class Csvish(Reader):
        name = "csvish"
        suffixes = (".csv", ".json")

    class Nameless(Reader):
        suffixes = (".nothing",)

    for cls, message in ((Again, "'tsv' is registered twice"), (Csvish, "'.json' already means 'jsonl'"),
                         (Nameless, "names no format")):
        with pytest.raises(ValueError, match=message):
            register(cls)
    assert readers.names() == before
    with pytest.raises(ValueError, match="unknown input format 'csvish'"):
        readers.get("csvish")


def test_the_longest_ending_decides(tsv):
    class Archive(Reader):
        name = "tarjson"
        suffixes = (".tar.json",)

    register(Archive)
    try:
        assert io_mod.detect_format("a.tar.json.gz") == "tarjson" and io_mod.detect_format("a.json") == "jsonl"
    finally:
        unregister("tarjson")


@pytest.mark.parametrize("name, fmt", [
    ("gs://b/a.jsonl", "jsonl"), ("a.JSON.gz", "jsonl"), ("a.ndjson.bz2", "jsonl"), ("a.jsonl.zst", "jsonl"),
    ("b.parquet", "parquet"), ("b.pq", "parquet"), ("c.txt.xz", "text"), ("c.text.deflate", "text"),
    ("d.warc", "warc"), ("d.warc.gz", "warc"), ("e.wet.gz", "wet"), ("f.html", "html"), ("f.HTM.gz", "html"),
])
def test_todays_names_mean_todays_formats(name, fmt):
    assert io_mod.detect_format(name) == fmt


@pytest.mark.parametrize("name, message", [
    ("crawl/x.arc.gz", "crawl/x.arc.gz: ARC files are not read (convert them to WARC first)"),
    ("x.wat.gz", "'x.wat.gz' is a WAT file (metadata about pages, not their text): read the .warc or .wet file"),
    ("x.csv", "cannot tell the format of 'x.csv' from its name; pass --input_format "
              "html|jsonl|parquet|text|warc|wet"),
])
def test_refused_names_say_why(name, message):
    with pytest.raises(ValueError) as e:
        io_mod.detect_format(name)
    assert str(e.value) == message


def test_web_formats_are_the_readers_that_say_so():
    assert tuple(io_mod.WEB_FORMATS) == ("html", "warc", "wet")
    assert [f for f in io_mod.FORMATS if f not in io_mod.WEB_FORMATS] == ["jsonl", "parquet", "text"]


def test_what_cannot_be_entered_midway_is_one_range(tmp_path):
    # a document per text file, or a compressed stream: one range however large; lines split
    for name, unit, n in (("a.txt", "file", 1), ("a.jsonl.gz", "line", 1), ("a.txt.gz", "line", 1),
                          ("b.txt", "line", 10), ("b.jsonl", "file", 10)):
        path = str(tmp_path / name)
        ranges = io_mod.plan_ranges(path, 100, io_mod.ReadSpec(split_bytes=10, text_unit=unit))
        assert len(ranges) == n and ranges[0].start == 0 and ranges[-1].end == -1
