"""`python -m pipelines` imports Beam without pandas, bson/pymongo and Beam's BigQuery IO for a
local run (pipelines/startup.py), imports them all for a remote runner, falls back to a whole
import when Beam cannot do without one of them, and writes the same outputs either way.
Each case runs in a fresh interpreter: the test process has imported Beam whole already."""
import json
import os
import subprocess
import sys

import pytest
from test_runtime import PARTS, outputs as run_outputs

LEFT_OUT = ("pandas", "bson", "pymongo", "apache_beam.io.gcp.bigquery")
# Loaded? after `import_beam(argv)`, and after pyarrow converted a list (which imports pandas
# lazily when it can); plus the fallback's marker.
PROBE = """
import json, os, sys
from pipelines.startup import import_beam
import_beam(sys.argv[1:]{extra})
loaded = [m for m in {left_out!r} if m in sys.modules]
import pyarrow as pa
pa.array(["a"])
print(json.dumps({{"loaded": loaded, "pandas_later": "pandas" in sys.modules,
                   "beam": "apache_beam" in sys.modules, "env": os.environ.get("ROOTS_LEAN_BEAM_IMPORT")}}))
"""


def probe(argv: list[str], extra: str = "", env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(extra=extra, left_out=LEFT_OUT), *argv],
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bson" not in proc.stderr  # mongodbio's warning about the missing package stays quiet
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_local_run_leaves_optional_modules_out():
    found = probe(["run", "--input", "x.jsonl", "--direct_num_workers=1"], env={"ROOTS_LEAN_BEAM_IMPORT": None})
    assert found == {"loaded": [], "pandas_later": False, "beam": True, "env": None}


@pytest.mark.parametrize("argv", [["run", "--runner=DataflowRunner"], ["run", "--runner", "PrismRunner"]])
def test_other_runners_import_everything(argv):
    found = probe(argv, env={"ROOTS_LEAN_BEAM_IMPORT": None})
    assert found["loaded"] == list(LEFT_OUT) and found["pandas_later"]


def test_switch_imports_everything():
    found = probe(["run"], env={"ROOTS_LEAN_BEAM_IMPORT": "0"})
    assert found["loaded"] == list(LEFT_OUT)


def test_beam_that_needs_a_left_out_module_gets_a_whole_import():
    """Left out a module Beam imports unconditionally: the command starts again and imports Beam whole."""
    found = probe(["run"], extra=", leave_out=('apache_beam.coders',)", env={"ROOTS_LEAN_BEAM_IMPORT": None})
    assert found["beam"] and found["env"] == "0" and found["loaded"] == list(LEFT_OUT)


def test_lean_cli_run_writes_what_a_whole_import_writes(tmp_path, corpus_dir):
    """The same run, dedup on, by the CLI with the lean import and with Beam whole: the same
    kept, dropped, dead-letter and index files, byte for byte, and the same counts."""
    docs = tmp_path / "docs.jsonl"
    with open(sorted(corpus_dir.glob("*.jsonl"))[0], encoding="utf-8") as f:
        lines = [next(f) for _ in range(400)]
    docs.write_text("".join(lines + lines[:50]) + "not json\n", encoding="utf-8")  # copies, and a malformed line
    outputs = {}
    for lean in ("1", "0"):
        out = tmp_path / f"out-{lean}"
        proc = subprocess.run([sys.executable, "-m", "pipelines", "run", "--input", str(docs), "--output", str(out),
                               "--direct_num_workers=1", "--no_progress"], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "ROOTS_LEAN_BEAM_IMPORT": lean}, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs[lean] = run_outputs(out)
    assert {name.split("/")[0] for name in outputs["1"]} == {*PARTS, "stats.json"}
    assert json.loads(outputs["1"]["stats.json"])["dropped"]["duplicate_exact"] > 0
    assert outputs["1"] == outputs["0"]
