"""`python -m roots_eval.chain STEP`: did this corpus release help?

    python -m roots_eval.chain all --input 'raw/*.jsonl' --releases releases/ --work work/ [--steps 300 ...]
    STEP: refresh | train | evaluate | leaderboard | all (the four in that order, stopping at a failure)

For every refresh release (`roots-pipeline refresh`), a proxy model is trained at one fixed
budget, scored, and given a row on a leaderboard of releases, the row named after the release
(DCLM and FineWeb compare data this way). Every step is idempotent and resumable, so a timer may
rerun any day as often as it likes:

    refresh      `roots-pipeline refresh`: a new release only when there are new input files
    train        skips a release whose proxy has its final checkpoint; resumes an interrupted one
    evaluate     skips a release whose results file is complete and names the current checkpoint digest
    leaderboard  rebuilds only when the set of complete results files (by digest) changed

WORK holds budget.json (the budget the proxies were trained with: a later run asking for another
one is refused, its scores would not be comparable), tokenizer/ (one for every release: trained
once from the first release, or --tokenizer), data/NAME/ (verified local copies of gs:// releases),
proxies/NAME/ (training runs), results/NAME.json and site/ (the leaderboard).

Each step runs the product's own CLI in a child process (as roots_demo does), so a step's memory
and its failure stay its own; progress lines go to stderr.
"""
from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.files import atomic_write

STEPS = ("refresh", "train", "evaluate", "leaderboard")
BUDGET_FILE = "budget.json"
SITE_INPUTS = "site.inputs.json"  # the results digests the site was last built from


class ChainError(RuntimeError):
    """A step cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Budget:
    """What every proxy gets, the same for every release (or scores are not comparable)."""
    steps: int = 300
    preset: str = "tiny"
    seed: int = 1337
    vocab_size: int = 8000
    batch_size: int | None = None  # None: the trainer's default for the preset
    seq_len: int | None = None
    checkpoint_interval: int = 100  # what an interrupted proxy resumes from
    tasks: str = "all"
    limit: int = 20
    max_new_tokens: int = 32


def log(message: str) -> None:
    print(f"chain: {message}", file=sys.stderr, flush=True)


def run_cli(argv: list[str], what: str) -> None:
    """One product CLI in a child process; its output goes to our stderr (stdout stays free)."""
    log(f"{what}: {' '.join(argv[1:])}")
    code = subprocess.run([sys.executable, *argv], stdout=sys.stderr).returncode
    if code != 0:
        raise ChainError(f"{what} failed (exit {code})")


class Chain:
    def __init__(self, releases: str, work: str, budget: Budget, tokenizer: str | None = None):
        self.releases, self.work, self.budget = releases, Path(work).resolve(), budget
        self.given_tokenizer = tokenizer
        self.work.mkdir(parents=True, exist_ok=True)

    # -- layout ------------------------------------------------------------------------------
    def proxy(self, name: str) -> Path:
        return self.work / "proxies" / name

    def results(self, name: str) -> Path:
        return self.work / "results" / f"{name}.json"

    def final_checkpoint(self, name: str) -> Path:
        from roots_model.checkpoint import run_checkpoint_path

        return run_checkpoint_path(self.proxy(name), self.budget.steps)

    def list_releases(self):
        from pipelines.refresh import list_releases

        return list_releases(self.releases)

    # -- budget and tokenizer ----------------------------------------------------------------
    def tokenizer_path(self) -> Path:
        return Path(self.given_tokenizer).resolve() if self.given_tokenizer else self.work / "tokenizer"

    def check_budget(self, tokenizer_sha256: str | None = None) -> None:
        """Record the budget (and the tokenizer's digest) on first use; refuse another one afterwards."""
        path = self.work / BUDGET_FILE
        wanted = {"budget": dataclasses.asdict(self.budget), "tokenizer_sha256": tokenizer_sha256}
        if path.is_file():
            recorded = json.loads(path.read_text())
            if tokenizer_sha256 is None:  # evaluate, leaderboard: the tokenizer is the proxies' own
                wanted["tokenizer_sha256"] = recorded.get("tokenizer_sha256")
            if recorded != wanted:
                raise ChainError(f"{self.work} holds proxies trained with {recorded}; this run asks for {wanted}: "
                                 f"scores would not be comparable (use another --work for another budget)")
        elif tokenizer_sha256 is not None:
            atomic_write(path, json.dumps(wanted, indent=1) + "\n")

    def ensure_tokenizer(self, first_release) -> str:
        """The tokenizer's digest; trained once from the first release unless one was given."""
        from pipelines.storage import file_sha256
        from roots_model.tokenizer import tokenizer_file

        path = self.tokenizer_path()
        if not self.given_tokenizer and not path.is_dir():
            partial = self.work / "tokenizer.partial"  # renamed into place when complete
            run_cli(["-m", "roots_model.cli", "tokenizer", "--data", self.local_data(first_release),
                     "--vocab-size", str(self.budget.vocab_size), "--output", str(partial)],
                    f"tokenizer from {first_release.name}")
            os.replace(partial, path)
        return file_sha256(str(tokenizer_file(path)))

    def local_data(self, release) -> str:
        """A folder training can read: the release itself, or a verified local copy of a gs:// one."""
        from pipelines.storage import is_remote

        if not is_remote(release.path):
            return release.path
        target = self.work / "data" / release.name
        if not target.is_dir():
            copy_release(release.path, release.manifest, target)
        return str(target)

    # -- steps -------------------------------------------------------------------------------
    def refresh(self, inputs: list[str], beam_args: list[str]) -> None:
        if not inputs:
            raise ChainError("refresh needs --input")
        run_cli(["-m", "pipelines", "refresh", *[f"--input={i}" for i in inputs], f"--releases={self.releases}",
                 "--no_progress", *beam_args], "refresh")

    def train(self) -> None:
        releases = self.list_releases()
        log(f"train: {len(releases)} release(s) in {self.releases}")
        if not releases:
            return
        self.check_budget(self.ensure_tokenizer(releases[0]))
        b = self.budget
        for release in releases:
            if (self.final_checkpoint(release.name) / "checkpoint.json").is_file():
                log(f"train {release.name}: proxy done (step {b.steps}), skipped")
                continue
            data = self.local_data(release)
            argv = ["-m", "roots_model.cli", "pretrain", "--data", data,
                    "--tokenizer", str(self.tokenizer_path()), "--preset", b.preset, "--max-steps", str(b.steps),
                    "--seed", str(b.seed), "--checkpoint-interval", str(b.checkpoint_interval),
                    "--output", str(self.proxy(release.name)), "--resume", "--no-progress", "--no-tensorboard"]
            argv += [f for flag, v in (("--batch-size", b.batch_size), ("--seq-len", b.seq_len)) if v is not None
                     for f in (flag, str(v))]
            if data != release.path:
                argv += ["--corpus-release", release.path]  # lineage names the gs:// release, not our copy
            run_cli(argv, f"train {release.name}")

    def evaluate(self) -> None:
        self.check_budget()
        b = self.budget
        for release in self.list_releases():
            final = self.final_checkpoint(release.name)
            if not (final / "checkpoint.json").is_file():
                raise ChainError(f"evaluate {release.name}: no final checkpoint {final} (run the train step first)")
            out = self.results(release.name)
            if self.results_current(release.name):
                log(f"evaluate {release.name}: {out.name} is complete for this checkpoint, skipped")
                continue
            # An interrupted run left a partial file: run again; the output cache beside it
            # (roots_eval.runner) makes the tasks already scored cheap.
            run_cli(["-m", "roots_eval.cli", "run", "--model", str(self.proxy(release.name)), "--tasks", b.tasks,
                     "--limit", str(b.limit), "--max-new-tokens", str(b.max_new_tokens), "--output", str(out)],
                    f"evaluate {release.name}")

    def results_current(self, name: str) -> bool:
        """The results file scored this proxy's final checkpoint on every task, with this budget."""
        from roots_eval.models.roots import checkpoint_fingerprint
        from roots_eval.results import ResultsError, load_results

        final = self.final_checkpoint(name)
        if not (final / "checkpoint.json").is_file() or not self.results(name).is_file():
            return False
        try:
            data = load_results(self.results(name))
        except ResultsError:
            return False
        config = data.get("config") or {}
        return (data["model"].get("checkpoint_hash") == checkpoint_fingerprint(final)
                and not data.get("errors") and set(config.get("tasks") or [None]) <= set(data["results"])
                and (config.get("limit"), config.get("max_new_tokens")) == (self.budget.limit, self.budget.max_new_tokens))

    def leaderboard(self) -> None:
        from pipelines.storage import file_sha256

        self.check_budget()
        files = [self.results(r.name) for r in self.list_releases() if self.results_current(r.name)]
        if not files:
            log("leaderboard: no complete results yet")
            return
        inputs = {str(f): file_sha256(str(f)) for f in files}
        stamp = self.work / SITE_INPUTS
        site = self.work / "site"
        if stamp.is_file() and json.loads(stamp.read_text()) == inputs and (site / "index.html").is_file():
            log(f"leaderboard: {len(files)} results file(s) unchanged, site kept")
            return
        stamp.unlink(missing_ok=True)  # a build that dies half-way is redone next time
        run_cli(["-m", "roots_eval.cli", "leaderboard", *inputs, "--output", str(site)], "leaderboard")
        atomic_write(stamp, json.dumps(inputs, indent=1) + "\n")
        log(f"leaderboard: {len(files)} release row(s) -> {site / 'index.html'}")


def copy_release(source: str, manifest: dict, target: Path) -> None:
    """Copy a release's documents (data/) and manifest to the local `target`, checking each copied
    file's SHA-256 against the manifest's "files"; the folder appears only once complete."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from pipelines import storage

    listed = manifest.get("files")
    if listed is None:
        log(f"copy {source}: its manifest lists no file digests (a release made before manifests had them): "
            f"copied unchecked")
        prefix = source.rstrip("/") + "/"
        names = [p[len(prefix):].replace(os.sep, "/") for p in storage.list_files(storage.join(source, "data"))]
    else:
        names = [n for n in listed if n.startswith("data/")]
    partial = target.with_name(target.name + ".partial")
    storage.delete_folder(str(partial))
    log(f"copy {source}: {len(names)} data file(s) -> {target}")
    for name in [*sorted(names), "manifest.json"]:
        src, dest = storage.join(source, *name.split("/")), partial / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with FileSystems.open(src, compression_type=CompressionTypes.UNCOMPRESSED) as f, open(dest, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)  # streamed: a shard need not fit in memory
        if listed is not None and name in listed and storage.file_sha256(str(dest)) != listed[name]["sha256"]:
            raise ChainError(f"{src}: the copy's SHA-256 differs from the release manifest's")
    os.replace(partial, target)


def _lock(work: Path):
    """One chain at a time on a work folder (cron and Airflow both scheduled by mistake)."""
    work.mkdir(parents=True, exist_ok=True)
    handle = open(work / "chain.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ChainError(f"another chain is running on {work}") from None
    return handle


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m roots_eval.chain", description=__doc__.split("\n\n")[0],
                                     epilog="Flags the chain does not know go to `roots-pipeline refresh` "
                                            "(Beam options such as --runner DataflowRunner).")
    parser.add_argument("step", choices=[*STEPS, "all"])
    parser.add_argument("--releases", required=True, help="the refresh releases folder (local or gs://)")
    parser.add_argument("--work", required=True, help="local folder for the tokenizer, proxies, results and site")
    parser.add_argument("--input", action="append", default=[], help="refresh: raw input glob (repeatable)")
    parser.add_argument("--tokenizer", default=None, help="a tokenizer for every proxy (default: trained once "
                                                         "from the first release into WORK/tokenizer)")
    for field in dataclasses.fields(Budget):
        # default None: the budget recorded in WORK/budget.json, else the dataclass default
        kind = str if field.type in ("str",) else int
        parser.add_argument("--" + field.name.replace("_", "-"), type=kind, default=None,
                            help=f"proxy budget (default {field.default})")
    return parser


def budget_from(args, work: Path) -> Budget:
    recorded = work / BUDGET_FILE
    base = json.loads(recorded.read_text())["budget"] if recorded.is_file() else {}
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Budget) if getattr(args, f.name) is not None}
    return Budget(**{**base, **given})


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.step not in ("refresh", "all"):
        print(f"chain: error: unknown arguments {' '.join(extra)}", file=sys.stderr)
        return 2
    work = Path(args.work).resolve()
    try:
        lock = _lock(work)
        chain = Chain(args.releases, str(work), budget_from(args, work), args.tokenizer)
        for step in STEPS if args.step == "all" else (args.step,):
            if step == "refresh":
                chain.refresh(args.input, extra)
            else:
                getattr(chain, step)()
    except ChainError as e:
        print(f"chain: error: {e}", file=sys.stderr)
        return 1
    lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
