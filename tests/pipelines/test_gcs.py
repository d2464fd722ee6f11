"""gs:// inputs, outputs and releases against a real GCS JSON API: gcp-storage-emulator,
started here as a separate process, with Beam's own GCS filesystem pointed at it through
STORAGE_EMULATOR_HOST. Credentials come from an authorized-user file whose token endpoint
is a small local server, so Beam's credential lookup succeeds at once instead of retrying.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"access_token": "emulator-token", "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
    """An emulator process and credentials; yields a helper to make buckets."""
    pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator is not installed (pip install "
                                                       "gcp-storage-emulator==2026.7.19)")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                             "--port", str(port), "--in-memory", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.skip(f"gcp-storage-emulator did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.2)
    token_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    threading.Thread(target=token_server.serve_forever, daemon=True).start()
    creds = tmp_path_factory.mktemp("creds") / "key.json"
    creds.write_text(json.dumps({  # a service-account key (authorized-user files always use Google's endpoint)
        "type": "service_account", "project_id": "roots-test", "private_key_id": "1", "private_key": _private_key(),
        "client_email": "roots-test@roots-test.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": f"http://127.0.0.1:{token_server.server_address[1]}/token"}))
    env = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "GOOGLE_APPLICATION_CREDENTIALS": str(creds),
           "GOOGLE_CLOUD_PROJECT": "roots-test"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from google.cloud import storage as gcs_client

    client = gcs_client.Client(project="roots-test")

    class Helper:
        def bucket(self, name):
            if client.lookup_bucket(name) is None:
                client.create_bucket(name)
            return name

    try:
        yield Helper()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        token_server.shutdown()
        proc.terminate()
        proc.wait(timeout=10)


def _put(path: str, data: bytes) -> None:
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:  # bytes as given
        f.write(data)


def _jsonl(docs) -> bytes:
    return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode()


def _read_rows(folder: str) -> list[dict]:
    """Kept (JSONL.gz) or dropped rows under a gs:// folder, read back through Beam."""
    from pipelines import storage

    rows = []
    for path in storage.list_files(folder):
        rows.extend(json.loads(l) for l in gzip.decompress(storage.read_bytes(path)).decode().splitlines())
    return rows


def test_folders_are_prefixes(gcs):
    from apache_beam.io.filesystems import FileSystems

    from pipelines import storage

    b = gcs.bucket("roots-prefix")
    for name in ("x/z.txt", "x/y/w.txt", "xy/other.txt"):
        _put(f"gs://{b}/{name}", b"hello")
    assert not FileSystems.exists(f"gs://{b}/x")  # why Beam's exists() cannot guard a folder
    assert storage.list_files(f"gs://{b}/x") == [f"gs://{b}/x/y/w.txt", f"gs://{b}/x/z.txt"]
    assert storage.children(f"gs://{b}/x") == ["y", "z.txt"]
    copied = storage.copy_folder(f"gs://{b}/x", f"gs://{b}/copy", exclude=("z.txt",))
    assert copied == [f"gs://{b}/copy/y/w.txt"]
    assert storage.delete_folder(f"gs://{b}/x") == 2
    assert storage.is_empty(f"gs://{b}/x") and storage.list_files(f"gs://{b}/xy") == [f"gs://{b}/xy/other.txt"]
    assert storage.create_if_absent(f"gs://{b}/lock", b"1")
    assert storage.read_bytes(f"gs://{b}/lock") == b"1"


def _run(*args):
    from pipelines.cli import main

    return main(["run", *map(str, args), "--no_progress"])


def test_run_overwrite_and_refusal_on_gcs(gcs, corpus_docs, capsys):
    from pipelines.stats import check_conservation, read_json

    docs = [d for d in corpus_docs.values() if d["source"] == "c4-en"][:60]
    src, dst = gcs.bucket("roots-in"), gcs.bucket("roots-out")
    _put(f"gs://{src}/raw/a.jsonl", _jsonl(docs[:30]))
    _put(f"gs://{src}/raw/b.jsonl.gz", gzip.compress(_jsonl(docs[30:])))
    out = f"gs://{dst}/run"
    # A larger earlier output with five shards per part, on the 2-process runner.
    assert _run("--input", f"gs://{src}/raw/*", "--output", out, "--output_format", "jsonl", "--num_shards", 5,
                "--direct_num_workers=2", "--direct_running_mode=multi_processing") == 0
    stats = read_json(f"{out}/stats.json")
    check_conservation(stats)
    assert stats["read"] == 60 and stats["conservation"]["files"] == 2
    rows = _read_rows(f"{out}/data") + _read_rows(f"{out}/dropped")
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in docs)

    # Non-empty gs:// output without --overwrite: refused before any work.
    assert _run("--input", f"gs://{src}/raw/a.jsonl", "--output", out, "--direct_num_workers=1") == 2
    assert "--overwrite" in capsys.readouterr().err

    # --overwrite with one shard and a smaller input: no stale shard of the first run survives.
    assert _run("--input", f"gs://{src}/raw/a.jsonl", "--output", out, "--output_format", "jsonl",
                "--num_shards", 1, "--overwrite", "--direct_num_workers=1") == 0
    from pipelines import storage

    data_files = storage.list_files(f"{out}/data") + storage.list_files(f"{out}/dropped")
    assert data_files and all("-of-00001" in p for p in data_files), data_files
    rows = _read_rows(f"{out}/data") + _read_rows(f"{out}/dropped")
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in docs[:30])  # each once
    assert read_json(f"{out}/stats.json")["read"] == 30


def test_refresh_crash_during_publish_then_rerun_on_gcs(gcs, corpus_docs, monkeypatch):
    from pipelines import refresh as refresh_mod
    from pipelines import storage
    from pipelines.cli import main
    from pipelines.refresh import list_releases

    docs = [d for d in corpus_docs.values() if d["source"] in ("c4-en", "zh-paper-abstracts")][:80]
    src, rel = gcs.bucket("roots-raw"), gcs.bucket("roots-releases")
    _put(f"gs://{src}/day1/a.jsonl", _jsonl(docs[:50]))
    releases = f"gs://{rel}/releases"
    args = ["refresh", "--input", f"gs://{src}/day1/*.jsonl", "--releases", releases, "--no_progress",
            "--direct_num_workers=1", "--output_format", "jsonl"]

    real_copy = refresh_mod.FileSystems.copy
    copied = []

    def dying_copy(srcs, dsts):  # the launcher dies half-way through publishing
        real_copy(srcs[:1], dsts[:1])
        copied.extend(dsts[:1])
        raise KeyboardInterrupt("killed during publish")

    monkeypatch.setattr(storage.FileSystems, "copy", dying_copy)
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--num_shards", "3"])  # the rerun shards differently: stale copies would not be overwritten
    monkeypatch.undo()
    assert copied and list_releases(releases) == []          # files copied, but no manifest: no release
    assert storage.children(releases) == sorted(["_staging-release-00001", "release-00001"])

    assert main([*args, "--num_shards", "1"]) == 0
    (r1,) = list_releases(releases)
    assert storage.children(releases) == ["release-00001"]   # leftovers removed, lock released
    rows = _read_rows(f"{r1.path}/data") + _read_rows(f"{r1.path}/dropped")
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in docs[:50])  # same documents, none twice
    assert r1.manifest["stats"]["read"] == 50

    # Day 2 repeats ten day-1 texts under the same ids: deduplicated against release 1.
    _put(f"gs://{src}/day2/b.jsonl", _jsonl(docs[50:] + docs[:10]))
    assert main([*args[:2], f"gs://{src}/day*/*.jsonl", *args[3:]]) == 0
    r1, r2 = list_releases(releases)
    assert r2.manifest["stats"]["read"] == 40
    kept1 = {r["text"] for r in _read_rows(f"{r1.path}/data")}
    kept2 = _read_rows(f"{r2.path}/data")
    assert not kept1 & {r["text"] for r in kept2}


def test_concurrent_refresh_is_refused_on_gcs(gcs):
    from pipelines.lock import LockHeld, RefreshLock

    releases = f"gs://{gcs.bucket('roots-locks')}/releases"
    first = RefreshLock.acquire(releases, ttl_s=3600)
    with pytest.raises(LockHeld, match="another refresh is running"):
        RefreshLock.acquire(releases, ttl_s=3600)
    first.release()
    RefreshLock.acquire(releases, ttl_s=3600).release()


def test_remote_launch_lists_no_input_and_matches_in_the_job(gcs, capsys):
    """A Dataflow dry run with a gs:// glob in a bucket the launcher never touches: nothing
    is listed here; the job graph matches the pattern itself."""
    from pipelines import pipeline as pipeline_mod

    built = {}
    real_build = pipeline_mod.build

    def spy(p, spec):
        built["inputs"] = list(spec.inputs)
        return real_build(p, spec)

    import pipelines.pipeline

    orig = pipelines.pipeline.build
    pipelines.pipeline.build = spy
    try:
        code = _run("--input", "gs://roots-not-a-bucket/raw/*.jsonl.gz", "--output",
                    f"gs://{gcs.bucket('roots-dry')}/out", "--runner=DataflowRunner", "--project=roots-test",
                    "--region=us-central1", f"--temp_location=gs://{gcs.bucket('roots-dry')}/tmp", "--dry_run=True")
    finally:
        pipelines.pipeline.build = orig
    assert code == 0, capsys.readouterr().err
    assert built["inputs"] == ["gs://roots-not-a-bucket/raw/*.jsonl.gz"]  # the pattern, unexpanded


def test_missing_credentials_is_one_line(tmp_path):
    """No credentials and no emulator: a one-line error at once, not minutes of retries."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST")}
    env.update(HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="True",
               GCE_METADATA_HOST="127.0.0.1:9", GCE_METADATA_IP="127.0.0.1:9")
    proc = subprocess.run([sys.executable, "-m", "pipelines", "run", "--input", "gs://roots-raw/x/*.jsonl.gz",
                           "--output", "gs://roots-out/x", "--runner=DataflowRunner", "--project=p",
                           "--region=us-central1", "--temp_location=gs://roots-out/tmp", "--dry_run=True"],
                          capture_output=True, text=True, timeout=90, env=env)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert lines == ["roots-pipeline: error: no Google Cloud credentials for gs:// paths: run `gcloud auth "
                     "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"]


@pytest.mark.parametrize("output_format", ["parquet", "jsonl"])
def test_sharded_run_settles_bridges_on_gcs(gcs, corpus_docs, tmp_path, output_format):
    """A local run cut into shards, its output on gs://: the last shard's document joins two
    clusters earlier shards kept apart, and settling that bridge rewrites the shards' kept data
    (Parquet or JSONL), dropped records and index parts on the object store. Nothing lost,
    nothing twice."""
    import pyarrow.parquet as pq

    from pipelines import storage
    from pipelines.io import file_key
    from pipelines.stats import read_json

    docs = [d for d in corpus_docs.values() if d["source"] == "c4-en" and 300 <= len(d["text"].split(" ")) <= 900][:43]
    words = docs[0]["text"].split(" ")
    n, k = len(words), int(0.04 * len(words))
    # T0 ~ T1 ~ T2 (4% of the words replaced per step, at other positions): T1 resembles both,
    # T0 and T2 (~0.72) neither. T2's exact copy comes first: it is kept, T2 dropped naming it.
    t1 = [f"qzx{i}" if i in range(0, n, n // k)[:k] else w for i, w in enumerate(words)]
    t2 = [f"vjw{i}" if i in range(n // (2 * k), n, n // k)[:k] else w for i, w in enumerate(t1)]
    src, dst = gcs.bucket("roots-shard-in"), gcs.bucket("roots-shard-out")
    names = sorted((f"gs://{src}/{output_format}/{c}.jsonl" for c in "abc"), key=file_key)
    planted = {names[0]: [dict(docs[0], id="t0")],
               names[1]: [dict(docs[0], id="t2copy", text=" ".join(t2)), dict(docs[0], id="t2", text=" ".join(t2))],
               names[2]: [dict(docs[0], id="t1", text=" ".join(t1))]}
    for j, name in enumerate(names):
        rows = [dict(d, id=f"{j}-{i}") for i, d in enumerate(docs[1 + 14 * j:15 + 14 * j])]
        # The planted texts last in their file: in the file's last shard, after the file's others.
        _put(name, _jsonl(rows + planted[name]))
    cfg = tmp_path / "shards.yaml"
    cfg.write_text("read:\n  shard_mb: 0.03\n")
    out = f"gs://{dst}/{output_format}"
    assert _run("--input", f"gs://{src}/{output_format}/*.jsonl", "--output", out, "--config", cfg,
                "--output_format", output_format, "--direct_num_workers=1") == 0
    stats = read_json(f"{out}/stats.json")
    assert stats["sharding"]["shards"] >= 3 and stats["conservation"]["ok"] and stats["read"] == 46
    report = stats["sharding"]["bridges"]
    assert report["representatives_dropped"] >= 1 and report["dropped_repointed"] >= 1, report
    if output_format == "parquet":
        kept = [r for p in storage.list_files(f"{out}/data") for r in pq.read_table(io.BytesIO(storage.read_bytes(p))).to_pylist()]
    else:
        kept = _read_rows(f"{out}/data")
    dropped = _read_rows(f"{out}/dropped")
    ids = [r["id"] for r in kept + dropped]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 46 and not storage.list_files(f"{out}/_shards")
    assert len(kept) == stats["kept"] and "t0" in {r["id"] for r in kept}
    fates = {r["id"]: (r["reason"], r.get("duplicate_of")) for r in dropped}
    assert (fates["t2copy"], fates["t2"], fates["t1"]) == (
        ("duplicate_near", "t0"), ("duplicate_exact", "t0"), ("duplicate_near", "t0"))
    index_docs = [r for p in storage.list_files(f"{out}/dedup_index") if p.rsplit("/", 1)[-1].startswith("docs-")
                  for r in pq.read_table(io.BytesIO(storage.read_bytes(p))).to_pylist()]
    assert {r["doc_id"]: r["root_id"] for r in index_docs if r["doc_id"].startswith("t")} == {
        "t0": None, "t1": "t0", "t2copy": "t0"}


def test_finalize_leaves_no_temporary_file_on_gcs(gcs):
    """A failed bundle's temporary file (never passed on by the runner) is removed with the
    temporary directory on an object store too, where directories are only name prefixes."""
    from pipelines import storage
    from pipelines.outputs import JsonLinesSink, Output, finalize

    out = f"gs://{gcs.bucket('roots-finalize')}/run"
    output = Output.make("dropped", JsonLinesSink(f"{out}/dropped/part", ".jsonl.gz"))
    written = []
    for rows in (["a"], ["lost"]):
        w = output.sink.open_writer(output.temp_dir, f"t{len(written)}")
        w.write("".join(json.dumps(r) + "\n" for r in rows).encode())
        written.append(("dropped", w.close()))
    finalize([output], written[:1])
    assert storage.list_files(out) == [f"{out}/dropped/part-00000-of-00001.jsonl.gz"]
    lines = gzip.decompress(storage.read_bytes(f"{out}/dropped/part-00000-of-00001.jsonl.gz")).splitlines()
    assert [json.loads(line) for line in lines] == ["a"]


def test_warc_crawl_on_gcs_read_in_ranges(gcs, tmp_path):
    """WARC files and a blocklist on gs://, the files cut into many ranges read by the job:
    every record once (against an independent count of the records), web fields written."""
    from pipelines.datadir import dataset_path
    from pipelines.stats import check_conservation, read_json

    samples = dataset_path("warc_samples")
    files = [samples / "cc_resiliparse" / "warcfile.warc.gz", samples / "dolma_wget" / "sample-0000.warc.gz"]
    src, dst = gcs.bucket("roots-crawl"), gcs.bucket("roots-crawl-out")
    for path in files:
        _put(f"gs://{src}/crawl/{path.name}", path.read_bytes())
    _put(f"gs://{src}/lists/adult/domains", b"037426.cn\n")
    config = tmp_path / "web.yaml"
    config.write_text(f"read:\n  split_mb: 0.02\nweb:\n  url_blocklists: [gs://{src}/lists/adult/domains]\n")
    out = f"gs://{dst}/run"
    assert _run("--input", f"gs://{src}/crawl/*.warc.gz", "--output", out, "--config", config, "--dedup", "none",
                "--direct_num_workers=1") == 0
    stats = read_json(f"{out}/stats.json")
    check_conservation(stats)
    records = 0
    for path in files:  # one gzip member per record in both files
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            d = zlib.decompressobj(31)
            d.decompress(data[pos:])
            pos, records = len(data) - len(d.unused_data), records + 1
    assert stats["read"] == records and stats["malformed"] == 0
    assert stats["web"]["blocklists"] == {"adult": 1}
    assert stats["kept"] > 0


def test_lineage_links_a_gcs_release_to_a_local_checkpoint(gcs, tmp_path, capsys):
    """A release written to a bucket, its data copied to the training machine: the token shards
    name the gs:// release by digest, `roots-eval lineage --verify` reads it there, and an object
    changed on the bucket afterwards is named."""
    from pipelines import storage
    from roots_eval.cli import main as roots_eval
    from roots_model.testing import corpus_slice
    from roots_model.tokenizer import train_from_corpus
    from roots_model.train import TrainConfig, pretrain

    bucket = gcs.bucket("roots-lineage")
    raw = corpus_slice(tmp_path / "raw", 400, corpus_file="docs-00005-of-00006.jsonl") / "slice.jsonl"
    _put(f"gs://{bucket}/raw/slice.jsonl", raw.read_bytes())
    release = f"gs://{bucket}/corpus"
    assert _run("--input", f"gs://{bucket}/raw/slice.jsonl", "--output", release, "--direct_num_workers=1") == 0
    local = tmp_path / "copy"
    local.mkdir()
    for path in storage.list_files(f"{release}/data"):  # what `gsutil cp` would do
        (local / path.rsplit("/", 1)[1]).write_bytes(storage.read_bytes(path))
    train_from_corpus(local, tmp_path / "tok", 512, heldout_fraction=0.05)
    run = tmp_path / "run"
    pretrain(TrainConfig(data=str(local), tokenizer=str(tmp_path / "tok"), output=str(run), max_steps=2, batch_size=4,
                         seq_len=64, warmup_steps=1, eval_interval=2, eval_batches=1, checkpoint_interval=2,
                         val_fraction=0.05, workers=1, progress=False, tensorboard=False, corpus_release=release))
    capsys.readouterr()
    assert roots_eval(["lineage", str(run), "--json"]) == 0
    links = {link["kind"]: link for link in json.loads(capsys.readouterr().out)}
    manifest = storage.read_bytes(f"{release}/manifest.json")
    assert links["corpus-release"]["path"] == f"{release}/manifest.json"
    assert links["corpus-release"]["digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert links["input"]["path"] == f"gs://{bucket}/raw/slice.jsonl"
    assert roots_eval(["lineage", str(run), "--verify"]) == 0, capsys.readouterr().err

    kept = storage.list_files(f"{release}/data")[0]
    _put(kept, storage.read_bytes(kept) + b"\0")
    capsys.readouterr()
    assert roots_eval(["lineage", str(run), "--verify"]) == 1
    assert kept in capsys.readouterr().err
