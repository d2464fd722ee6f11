"""pipelines/outputs.py: the run's output files, checked against Beam's own write transforms."""
from __future__ import annotations

import glob
import gzip
import json
import os

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.document import KEPT_SCHEMA, to_kept_row
from pipelines.outputs import (JsonLinesFiles, JsonLinesSink, KeptParquetFiles, Output, ParquetTablesSink,
                               RunEndFn, finalize)
from pipelines.stats import StatsCombineFn, dropped_event, kept_event
from pipelines.transforms import to_json_line


def _docs(n: int) -> list[dict]:
    return [{"id": f"d{i}", "text": f"文本 {i} text", "lang": "zh" if i % 2 else "en", "script": "Hans",
             "input_file": "a.jsonl", "source": "s", "raw_bytes": 10 + i} for i in range(n)]


def _lines(pattern: str) -> list[str]:
    return [line for path in sorted(glob.glob(pattern)) for line in gzip.open(path, "rt", encoding="utf-8")]


def _gather(pcolls, outputs):
    """What the pipeline's run end does with the files: gather, then finalize."""
    return ((*pcolls,) | beam.Flatten() | beam.CombineGlobally(RunEndFn(StatsCombineFn()))
            | beam.Map(lambda acc: finalize(outputs, acc[1])))


def test_files_hold_what_beams_writes_hold(tmp_path):
    """Same records through BundleFiles + finalize and through Beam's WriteToText /
    WriteToParquetBatched: the same file names and the same content."""
    docs = _docs(2500)  # several chunks of 1000
    ours, beams = str(tmp_path / "ours"), str(tmp_path / "beam")
    with TestPipeline() as p:
        docs_p = p | beam.Create([docs]) | beam.FlatMap(lambda ds: ds)  # one bundle
        dropped = Output.make("dropped", JsonLinesSink(f"{ours}/dropped/part", ".jsonl.gz"))
        kept = Output.make("data", ParquetTablesSink(f"{ours}/data/part", KEPT_SCHEMA))
        _gather([docs_p | "J" >> beam.ParDo(JsonLinesFiles(dropped, to_json_line)),
                 docs_p | "P" >> beam.ParDo(KeptParquetFiles(kept))], [dropped, kept])
        docs_p | "BJ" >> beam.Map(to_json_line) | beam.io.WriteToText(f"{beams}/dropped/part",
                                                                       file_name_suffix=".jsonl.gz")
        (docs_p | "BR" >> beam.Map(to_kept_row)
         | beam.io.WriteToParquet(f"{beams}/data/part", KEPT_SCHEMA, file_name_suffix=".parquet"))
    for sub in ("dropped", "data"):
        assert sorted(os.listdir(f"{ours}/{sub}")) == sorted(os.listdir(f"{beams}/{sub}")) == \
            [f"part-00000-of-00001.{'parquet' if sub == 'data' else 'jsonl.gz'}"]
    assert _lines(f"{ours}/dropped/*.gz") == _lines(f"{beams}/dropped/*.gz")
    assert [json.loads(x)["id"] for x in _lines(f"{ours}/dropped/*.gz")] == [d["id"] for d in docs]
    ours_t, beam_t = pq.read_table(f"{ours}/data"), pq.read_table(f"{beams}/data")
    assert ours_t.schema.equals(KEPT_SCHEMA) and ours_t.to_pylist() == beam_t.to_pylist()
    assert ours_t.num_rows == len(docs)


def test_finalize_names_shards_makes_an_empty_file_and_can_run_again(tmp_path):
    """Two bundles' files become part-0000k-of-00002 (in the order of their temporary names);
    a file some failed bundle left in the temporary directory is not renamed and goes with
    the directory; an output no bundle wrote gets one empty file; and a finalize that runs
    again (a retried last step) changes nothing."""
    out = Output.make("dropped", JsonLinesSink(str(tmp_path / "dropped" / "part"), ".jsonl.gz"))
    empty = Output.make("dead_letter", JsonLinesSink(str(tmp_path / "dead_letter" / "part"), ".jsonl.gz"))
    written = []
    for bundle in (["a", "b"], ["c"], ["lost"]):
        w = out.sink.open_writer(out.temp_dir, f"t{len(written)}")
        w.write("".join(json.dumps(x) + "\n" for x in bundle).encode())
        written.append(("dropped", w.close()))
    committed = written[:2]  # the third bundle failed: the runner never passed its file on
    final = finalize([out, empty], committed)
    assert sorted(os.listdir(tmp_path / "dropped")) == ["part-00000-of-00002.jsonl.gz", "part-00001-of-00002.jsonl.gz"]
    assert [json.loads(x) for x in _lines(str(tmp_path / "dropped" / "*.gz"))] == ["a", "b", "c"]
    assert os.listdir(tmp_path / "dead_letter") == ["part-00000-of-00001.jsonl.gz"]
    assert _lines(str(tmp_path / "dead_letter" / "*.gz")) == []
    assert len(final) == 3 and not os.path.exists(out.temp_dir)
    finalize([out], committed)  # again: the sources are gone, the destinations stand
    assert [json.loads(x) for x in _lines(str(tmp_path / "dropped" / "*.gz"))] == ["a", "b", "c"]


def test_run_end_merges_the_stats_as_they_come_and_keeps_every_file():
    """The last step's input: per-bundle stats accumulators merged into one (equal to
    folding every event), file pairs kept, in any split of the inputs."""
    fn, end = StatsCombineFn(), RunEndFn(StatsCombineFn())
    docs = _docs(6)
    partials = []
    for part in (docs[:2], docs[2:5], docs[5:]):
        acc = fn.create_accumulator()
        for d in part:
            acc = fn.add_input(acc, kept_event(d) if d["lang"] == "zh" else dropped_event(dict(d, reason="x")))
        partials.append(acc)
    everything = fn.create_accumulator()
    for d in docs:
        everything = fn.add_input(everything, kept_event(d) if d["lang"] == "zh" else dropped_event(dict(d, reason="x")))
    items = [partials[0], ("data", "/t/a"), partials[1], ["dropped", "/t/b"], partials[2]]
    left, right = end.create_accumulator(), end.create_accumulator()
    for item in items[:2]:
        left = end.add_input(left, item)
    for item in items[2:]:
        right = end.add_input(right, item)
    stats, files = end.extract_output(end.merge_accumulators([left, right]))
    assert stats == everything
    assert sorted(files) == [("data", "/t/a"), ("dropped", "/t/b")]


def test_two_worker_runs_write_the_same_part_files(tmp_path, corpus_docs):
    """With 2 workers each bundle's file is named by its first document, so a rerun gives
    the same part files, byte for byte, and part-00000 holds the earlier input."""
    from pipelines.cli import main

    docs = list(corpus_docs.values())[:400]
    raw = tmp_path / "raw"
    raw.mkdir()
    for i, part in enumerate((docs[:200], docs[200:])):
        (raw / f"{i}.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in part), encoding="utf-8")
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        assert main(["run", "--input", str(raw / "*.jsonl"), "--output", str(out), "--dedup", "none", "--no_progress",
                     "--direct_num_workers=2", "--output_format", "jsonl"]) == 0
        outs.append(out)
    for sub in ("data", "dropped"):
        names = sorted(os.listdir(outs[0] / sub))
        assert names == sorted(os.listdir(outs[1] / sub)) and len(names) == 2, names
        for name in names:
            assert gzip.decompress((outs[0] / sub / name).read_bytes()) == gzip.decompress((outs[1] / sub / name).read_bytes())
    keys = [[json.loads(line)["key"] for line in gzip.open(outs[0] / "data" / n, "rt")]
            for n in sorted(os.listdir(outs[0] / "data"))]
    assert keys[0][0] < keys[1][0]


def test_part_files_follow_their_first_documents():
    """finalize numbers the files in name order, and a bundle's file is named by its first
    document's key: part-00000 holds the earliest input whichever bundle finished first
    (six bundles, latest first: random names would put them in order once in 720 runs)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Output.make("data", JsonLinesSink(f"{tmp}/data/part", ".jsonl.gz"))
        files = []
        for b in range(6, 0, -1):
            dofn = JsonLinesFiles(out, to_json_line)
            dofn.start_bundle()
            for k in (f"f:{b:013d}", f"f:{b:012d}5"):
                dofn.process({"key": k})
            files += [wv.value for wv in dofn.finish_bundle()]
        finalize([out], files)
        firsts = [json.loads(_lines(f"{tmp}/data/part-{i:05d}-of-00006.jsonl.gz")[0])["key"] for i in range(6)]
        assert firsts == [f"f:{b:013d}" for b in range(1, 7)]
