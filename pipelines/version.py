"""What code made an output: the package version, the git commit, a digest of the pipeline code.

Kept free of Beam and of everything heavy: roots_eval stamps every results file with it.
"""
from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

from . import __version__


def package_version() -> str:
    """The installed distribution's version (the package's own when run from a bare checkout)."""
    try:
        from importlib.metadata import version

        return version("roots")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return __version__


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """HEAD of the checkout the code runs from, when it runs from one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def pipelines_digest() -> str:
    """SHA-256 over every file of the installed `pipelines` package (relative name + bytes):
    an edit to a filter or a word list changes it even where no commit records the change."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_version() -> dict:
    return {"package": "roots", "version": package_version(), "git_commit": git_commit(),
            "pipelines_sha256": pipelines_digest()}
