"""From a score back to the data that made it, every link checkable.

    roots-eval lineage TARGET [--model ID] [--verify] [--json]

TARGET is a results file, a checkpoint (or training run, or fine-tuned classifier) folder, or a
leaderboard folder with --model. The chain, each link named by the digest its child recorded:

    score (leaderboard.json row) -> results file -> task data (one per task)
      -> [classifier ->] checkpoint (checkpoint.json) -> token shards (manifest.json)
      -> tokenizer, corpus release (manifest.json: every file, config, code) -> config, inputs

`verify` recomputes every digest along the chain, in that order, and raises LineageError naming
the first file that no longer matches: a corpus file edited after training, a swapped tokenizer,
an overwritten checkpoint, a results file edited by hand. Paths may be local or gs:// (a release
on a bucket, a checkpoint on this machine): files are read through `pipelines.storage`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import release, storage
from roots_eval.results import ResultsError, load_results

LEADERBOARD_JSON = "leaderboard.json"
KINDS = ("score", "results", "task-data", "classifier", "checkpoint", "tokens", "tokenizer", "corpus-release",
         "config", "input")


class LineageError(ValueError):
    """A link is missing or a file no longer matches its recorded digest; names the file."""


@dataclass
class Link:
    kind: str
    path: str
    digest: str | None  # what the link before it recorded ("sha256:..."); None for the target itself
    data: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"kind": self.kind, "path": self.path, "digest": self.digest, **summary(self)}


def sha256_of(path: str) -> str:
    return "sha256:" + storage.file_sha256(path)


# -- tracing ---------------------------------------------------------------------------------
def trace(target, model: str | None = None) -> list[Link]:
    """The chain from `target` down to the corpus inputs, as far as records reach."""
    target = str(target)
    path = Path(target)
    if not storage.is_remote(target) and path.is_dir() and (path / LEADERBOARD_JSON).is_file():
        return _from_leaderboard(path, model)
    if not storage.is_remote(target) and path.is_dir():
        return _from_model_folder(path)
    return _from_results(target, digest=None)


def leaderboard_rows(folder) -> list[dict]:
    """The rows of a leaderboard folder (leaderboard.json "models"), in its order."""
    return json.loads((Path(folder) / LEADERBOARD_JSON).read_text(encoding="utf-8")).get("models", [])


def _from_leaderboard(folder: Path, model: str | None) -> list[Link]:
    rows = leaderboard_rows(folder)
    ids = [m["id"] for m in rows]
    if model is None:
        raise LineageError(f"{folder} is a leaderboard: pick a row with --model (one of: {', '.join(ids)}), "
                           "or --verify every row")
    row = next((m for m in rows if m["id"] == model), None)
    if row is None:
        raise LineageError(f"{folder / LEADERBOARD_JSON}: no row {model!r} (rows: {', '.join(ids)})")
    return trace_row(folder, row)


def trace_row(folder, row: dict) -> list[Link]:
    """The chain of one leaderboard row (a row of leaderboard_rows(folder))."""
    folder = Path(folder)
    model = row["id"]
    results = row.get("results")
    if not results:
        raise LineageError(f"{folder / LEADERBOARD_JSON}: row {model!r} names no results file "
                           "(a leaderboard built before lineage: rebuild it with `roots-eval leaderboard`)")
    score = Link("score", str(folder / LEADERBOARD_JSON), None, {"row": row})
    return [score, *_from_results(results["path"], "sha256:" + results["sha256"])]


def _from_results(path: str, digest: str | None) -> list[Link]:
    try:
        data = load_results(path)
    except ResultsError as e:
        raise LineageError(str(e)) from None
    links = [Link("results", str(Path(path).resolve()), digest, {"results": data})]
    for name, entry in sorted(data.get("results", {}).items()):
        dataset = entry.get("dataset") or {}
        links.append(Link("task-data", name, dataset.get("hash"), {"task": name, "dataset": dataset,
                                                                    "task_dirs": data["config"].get("task_dir") or []}))
    model = data["model"]
    if model.get("type") == "classifier" and model.get("path"):
        links.append(Link("classifier", model["path"], model.get("checkpoint_hash"), {"model": model}))
        base = model.get("base")
        if base:
            links += _from_checkpoint(base["path"], base["checkpoint_hash"])
    elif model.get("type") == "roots" and model.get("path"):
        links += _from_checkpoint(model["path"], model.get("checkpoint_hash"))
    return links


def _from_model_folder(folder: Path) -> list[Link]:
    from roots_model import checkpoint as ckpt
    from roots_model.classifier import META_FILE

    if (folder / META_FILE).is_file():
        base = json.loads((folder / META_FILE).read_text(encoding="utf-8")).get("base")
        links = [Link("classifier", str(folder.resolve()), None, {"model": {"base": base}})]
        return links + (_from_checkpoint(base["path"], base["checkpoint_hash"]) if base else [])
    try:
        resolved = ckpt.resolve(folder)
    except ckpt.CheckpointError as e:
        raise LineageError(str(e)) from None
    return _from_checkpoint(str(resolved), None)


def _from_checkpoint(path: str, digest: str | None) -> list[Link]:
    folder = Path(path)
    state_file = folder / "state.json"
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else {}
    links = [Link("checkpoint", str(folder), digest, {"state": state})]
    tokens = (state.get("lineage") or {}).get("tokens")
    if tokens:
        links += _from_tokens(tokens["manifest"], "sha256:" + tokens["sha256"])
    return links


def _from_tokens(path: str, digest: str) -> list[Link]:
    try:
        manifest = json.loads(storage.read_bytes(path).decode("utf-8"))
    except Exception as e:  # noqa: BLE001 - local and object-store errors differ in type
        raise LineageError(f"{path}: cannot read the token manifest ({e})") from None
    links = [Link("tokens", path, digest, {"manifest": manifest})]
    if manifest.get("tokenizer"):
        links.append(Link("tokenizer", manifest["tokenizer"], "sha256:" + manifest["tokenizer_sha256"]))
    corpus = manifest.get("corpus")
    if corpus:
        links += _from_release(corpus["manifest"], "sha256:" + corpus["sha256"])
    return links


def _from_release(path: str, digest: str) -> list[Link]:
    try:
        manifest, _ = release.read_manifest(path)
    except release.ReleaseError as e:
        raise LineageError(str(e)) from None
    folder = release.release_folder(path)
    stats_path = storage.join(folder, "stats.json")
    links = [Link("corpus-release", path, digest, {"manifest": manifest, "folder": folder, "stats": stats_path})]
    config = manifest.get("config") or {}
    links.append(Link("config", f"{path}#config", "sha256:" + config.get("sha256", ""),
                      {"text": config.get("text", ""), "source": config.get("path")}))
    for entry in manifest.get("inputs", []):
        links.append(Link("input", entry["path"], entry["fingerprint"], {"bytes": entry.get("bytes")}))
    return links


# -- verifying -------------------------------------------------------------------------------
def verify(links: list[Link], progress=None) -> int:
    """Recompute every digest of the chain, in order; the number of files checked.
    LineageError names the first file that does not match."""
    checked = 0
    checkpoint_tokenizer = score = None
    for link in links:
        checked += _VERIFY[link.kind](link) or 0
        if link.kind == "score":
            score = link
        if link.kind == "results" and score is not None:
            _same_scores(score, link)
        if link.kind == "checkpoint":
            checkpoint_tokenizer = Path(link.path) / "tokenizer.json"
        if link.kind == "tokenizer" and checkpoint_tokenizer is not None:
            _same_tokenizer(checkpoint_tokenizer, link.path)
        if progress:
            progress(link)
    return checked


def _check(link: Link, actual: str, what: str = "") -> int:
    if link.digest is not None and actual != link.digest:
        raise LineageError(f"{link.path}: {what or link.kind} does not match the digest recorded for it "
                           f"({link.digest[:19]}…, now {actual[:19]}…)")
    return 1


def _verify_score(link: Link) -> int:
    return 0  # leaderboard.json is checked against the results file it names (_same_scores)


def _same_scores(score: Link, results: Link) -> None:
    """Every score of the leaderboard row is the results file's primary metric."""
    data = results.data["results"]["results"]
    for task, value in score.data["row"].get("scores", {}).items():
        entry = data.get(task)
        actual = entry["metrics"][entry["primary_metric"]]["value"] if entry else None
        if actual is None or abs(actual - value) > 1e-9:
            raise LineageError(f"{score.path}: {score.data['row']['id']} {task} = {value} on the leaderboard, "
                               f"{actual} in {results.path}")


def _verify_results(link: Link) -> int:
    return _check(link, sha256_of(link.path), "the results file")


def _verify_task_data(link: Link) -> int:
    from roots_eval.task import load_tasks

    tasks, _ = load_tasks(link.data["task"], [Path(d) for d in link.data["task_dirs"]])
    task = next((t for t in tasks if t.name == link.data["task"]), None)
    if task is None:
        raise LineageError(f"task {link.data['task']}: no longer in the task registry; its data cannot be checked")
    where = str(task.data_path()) if task.load_dataset is None else link.data["task"]
    try:
        actual = task.dataset_hash()
    except Exception as e:  # noqa: BLE001 - a missing data file, an unreadable dataset
        raise LineageError(f"{where}: task data of {task.name} cannot be read ({e})") from None
    if link.digest is not None and actual != link.digest:
        raise LineageError(f"{where}: task data of {task.name} changed since it was scored")
    return 1


def _verify_classifier(link: Link) -> int:
    from roots_eval.models.base import hash_path

    return _check(link, hash_path(link.path), "the fine-tuned classifier")


def _verify_checkpoint(link: Link) -> int:
    from roots_model import checkpoint as ckpt

    folder = Path(link.path)
    if not (folder / ckpt.MANIFEST).is_file():
        raise LineageError(f"{folder / ckpt.MANIFEST}: the checkpoint is gone or incomplete")
    _check(link, ckpt.digest(folder), "the checkpoint (checkpoint.json)")
    try:
        manifest = ckpt.verify(folder)
    except ckpt.CheckpointError as e:
        raise LineageError(str(e)) from None
    return 1 + len(manifest["files"])


def _verify_tokens(link: Link) -> int:
    _check(link, sha256_of(link.path), "the token manifest")
    folder = link.path.rsplit("/", 1)[0]
    count = 1
    for entry in link.data["manifest"].get("files", {}).values():
        for shard in entry["shards"].values():
            if "sha256" not in shard:
                continue  # shards prepared before digests were recorded: their sizes are checked on load
            shard_path = storage.join(folder, shard["file"])
            if not storage.exists(shard_path) or storage.file_sha256(shard_path) != shard["sha256"]:
                raise LineageError(f"{shard_path}: token shard missing or changed since it was prepared")
            count += 1
    return count


def _verify_tokenizer(link: Link) -> int:
    if not storage.exists(link.path):
        raise LineageError(f"{link.path}: the tokenizer the shards were made with is gone")
    return _check(link, sha256_of(link.path), "the tokenizer")


def _same_tokenizer(in_checkpoint: Path, prepared_with: str) -> None:
    """The checkpoint's copy of the tokenizer is re-serialized by `tokenizers`: compare the
    two as loaded, not byte for byte."""
    from tokenizers import Tokenizer

    if Tokenizer.from_file(str(in_checkpoint)).to_str() != Tokenizer.from_file(prepared_with).to_str():
        raise LineageError(f"{in_checkpoint}: not the tokenizer the token shards were made with ({prepared_with})")


def _verify_release(link: Link) -> int:
    _check(link, sha256_of(link.path), "the corpus release manifest")
    try:
        return 1 + release.verify_files(link.data["folder"], link.data["manifest"])
    except release.ReleaseError as e:
        raise LineageError(str(e)) from None


def _verify_config(link: Link) -> int:
    actual = "sha256:" + hashlib.sha256(link.data["text"].encode("utf-8")).hexdigest()
    return _check(link, actual, "the config text")


def _verify_input(link: Link) -> int:
    try:
        release.verify_input({"path": link.path, "fingerprint": link.digest})
    except release.ReleaseError as e:
        raise LineageError(str(e)) from None
    return 1


_VERIFY = {"score": _verify_score, "results": _verify_results, "task-data": _verify_task_data,
           "classifier": _verify_classifier, "checkpoint": _verify_checkpoint, "tokens": _verify_tokens,
           "tokenizer": _verify_tokenizer, "corpus-release": _verify_release, "config": _verify_config,
           "input": _verify_input}


# -- showing ---------------------------------------------------------------------------------
def summary(link: Link) -> dict:
    """A few facts per link for people (text) and tools (--json)."""
    d = link.data
    if link.kind == "score":
        row = d["row"]
        return {"model": row["id"], "average": row.get("average"), "scores": row.get("scores", {})}
    if link.kind == "results":
        r = d["results"]
        return {"model": r["model"]["id"], "tasks": len(r.get("results", {})),
                "harness": r.get("roots_eval_version"), "created": r.get("created")}
    if link.kind == "task-data":
        return {"task": d["task"], "file": d["dataset"].get("file"), "rows": d["dataset"].get("rows")}
    if link.kind == "checkpoint":
        state = d["state"]
        return {"step": state.get("step"), "train_config": state.get("train_config")}
    if link.kind == "tokens":
        files = d["manifest"].get("files", {}).values()
        return {"files": len(files), "train_tokens": sum(e["shards"]["train"]["tokens"] for e in files)}
    if link.kind == "corpus-release":
        m = d["manifest"]
        return {"name": m.get("name"), "read": m.get("stats", {}).get("read"), "kept": m.get("stats", {}).get("kept"),
                "files": len(m.get("files", {})), "code": m.get("code")}
    if link.kind == "config":
        return {"source": d.get("source")}
    if link.kind == "input":
        return {"bytes": d.get("bytes")}
    return {}


def describe(link: Link) -> str:
    s = summary(link)
    if link.kind == "score":
        avg = s["average"]
        return f"{s['model']}: average {avg:.2f}" if isinstance(avg, (int, float)) else s["model"]
    if link.kind == "results":
        return f"{s['tasks']} task(s), roots-eval {s['harness']}, {s['created']}"
    if link.kind == "task-data":
        return f"{s['task']} ({s['file']}, {s['rows']} rows)"
    if link.kind == "checkpoint":
        return f"step {s['step']}"
    if link.kind == "tokens":
        return f"{s['files']} source file(s), {s['train_tokens']:,} train tokens"
    if link.kind == "corpus-release":
        kept, read = s["kept"], s["read"]
        commit = (s["code"] or {}).get("git_commit") or "no git"
        return (f"{s['name'] + ': ' if s['name'] else ''}{kept:,} kept of {read:,} read, {s['files']} files, "
                f"code {str(commit)[:10]}")
    if link.kind == "config":
        return f"resolved config ({s['source'] or 'defaults'})"
    if link.kind == "input":
        return f"{s['bytes']:,} bytes" if s["bytes"] is not None else ""
    return ""


def render_text(links: list[Link]) -> str:
    lines = []
    for link in links:
        digest = (link.digest or "")[:23]
        lines.append(f"{link.kind:<15} {digest:<23}  {link.path}  {describe(link)}".rstrip())
    return "\n".join(lines)


def main(args) -> int:
    """`roots-eval lineage`: print the chain; --verify: exit 1 naming the first mismatch."""
    import sys

    board = Path(args.target)
    if args.model is None and args.verify and (board / LEADERBOARD_JSON).is_file():
        return _verify_every_row(board)
    try:
        links = trace(args.target, args.model)
    except LineageError as e:
        print(f"roots-eval lineage: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([link.to_json() for link in links], indent=1, ensure_ascii=False))
    else:
        print(render_text(links))
    if not args.verify:
        return 0
    try:
        checked = verify(links)
    except LineageError as e:
        print(f"roots-eval lineage: MISMATCH: {e}", file=sys.stderr)
        return 1
    print(f"roots-eval lineage: verified {len(links)} links, {checked} digests", file=sys.stderr)
    return 0


def _verify_every_row(folder: Path) -> int:
    """--verify on a leaderboard without --model: every row's chain, one line each."""
    import sys

    failed = 0
    for row in leaderboard_rows(folder):
        try:
            links = trace_row(folder, row)
            checked = verify(links)
        except LineageError as e:
            print(f"{row['id']}: MISMATCH: {e}", file=sys.stderr)
            failed += 1
            continue
        end = links[-1]
        reaches = "corpus inputs" if end.kind == "input" else f"{end.kind} (no further record)"
        print(f"{row['id']}: verified {len(links)} links, {checked} digests, down to the {reaches}")
    return 1 if failed else 0
