"""pipelines.files: the one atomic write and JSONL reader/writer. Expected bytes written out by hand."""
import gzip

import pytest

from pipelines.files import atomic_write, read_jsonl, write_jsonl


def test_atomic_write_bytes_str_and_writer(tmp_path):
    path = tmp_path / "new" / "f.json"  # the folder is made
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    atomic_write(path, "北京")
    assert path.read_bytes() == b"\xe5\x8c\x97\xe4\xba\xac"
    atomic_write(path, lambda f: f.write(b"abc"))
    assert path.read_bytes() == b"abc"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.json"]  # no temporary left behind


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"ne")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_jsonl_round_trip_bytes(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"text": "好", "n": 1}, [1, 2]])
    assert path.read_bytes() == b'{"text": "\xe5\xa5\xbd", "n": 1}\n[1, 2]\n'
    assert list(read_jsonl(path)) == [{"text": "好", "n": 1}, [1, 2]]


def test_read_jsonl_skips_blank_lines_reads_gz_and_stops_at_limit(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write('{"a": 1}\n\n  \n{"a": 2}\n{"a": 3}\n')
    assert list(read_jsonl(path)) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert list(read_jsonl(path, limit=2)) == [{"a": 1}, {"a": 2}]


def test_a_bad_line_is_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"rows.jsonl:2: not JSON"):
        list(read_jsonl(path))
