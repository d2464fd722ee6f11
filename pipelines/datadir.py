"""Where the real data lives (`ROOTS_DATA_DIR`, default `../shared/data`).

The repository ships no corpora: tests, the demo and the benchmarks read the shared data
in place. Every product (pipelines, roots_model, roots_eval) resolves it here.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ROOTS_DATA_DIR"
_REPO_ROOT = Path(__file__).resolve().parents[1]


class DataDirError(FileNotFoundError):
    pass


def data_dir() -> Path:
    """The data directory, or a DataDirError that says how to point at it."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        candidates = [Path(configured).expanduser()]
    else:
        # "../shared/data" relative to the working directory, then to the checkout.
        candidates = [Path.cwd().parent / "shared" / "data", _REPO_ROOT.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise DataDirError(
        f"ROOTS data directory not found (tried {tried}). Set {ENV_VAR} to the folder that "
        "holds corpus_web_mixed/, langid_eval/, cls_*/ ... (default: ../shared/data)."
    )


def dataset_path(name: str) -> Path:
    """A named dataset folder inside the data directory, e.g. `corpus_web_mixed`."""
    path = data_dir() / name
    if not path.is_dir():
        raise DataDirError(f"dataset folder {path} is missing from the ROOTS data directory")
    return path
