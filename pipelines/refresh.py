"""Scheduled, incremental corpus releases.

    roots-pipeline refresh --input 'gs://raw/2026-11-*/*.jsonl.gz' --releases gs://corpus/releases/

A release directory is `RELEASES/release-NNNNN/` holding the usual run outputs (data/,
dropped/, dead_letter/, dedup_index/, stats.json, funnel.html, the dataset card README.md) and
`manifest.json` (pipelines.release: every file's SHA-256, the config, the code version, and every
input file it consumed with a content fingerprint) plus the release's number and predecessors. A release exists only once its
manifest does: the manifest is written last, so a crash leaves no half-release that readers
or the next refresh would trust.

A refresh processes only input files whose content no earlier manifest lists (by
fingerprint; local paths are recorded absolute), deduplicates them against every earlier release's persisted band index, and
publishes the next release. The same input twice is a no-op; a killed run is redone from
scratch on the next call and ends with the same release as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from . import storage
from .api import RunOptions, UsageError, run
from .io import canonical
from .lock import LockHeld, RefreshLock
from .release import MANIFEST, fingerprint, read_manifest  # noqa: F401 - fingerprint: this module's API

_RELEASE_RE = re.compile(r"^release-(\d{5})$")
_STAGING_PREFIX = "_staging-"


@dataclass(frozen=True)
class Release:
    number: int
    path: str
    manifest: dict

    @property
    def name(self) -> str:
        return f"release-{self.number:05d}"

    @property
    def dedup_index(self) -> str:
        return FileSystems.join(self.path, "dedup_index")


def list_releases(releases_dir: str) -> list[Release]:
    """Complete releases (those with a manifest), oldest first."""
    out = []
    for name in storage.children(releases_dir):
        m = _RELEASE_RE.match(name)
        if not m:
            continue
        path = FileSystems.join(releases_dir, name)
        manifest_path = FileSystems.join(path, MANIFEST)
        if FileSystems.exists(manifest_path):
            out.append(Release(int(m.group(1)), path, storage.read_json(manifest_path)))
    return sorted(out, key=lambda r: r.number)


def remove_incomplete(releases_dir: str) -> list[str]:
    """Delete staging folders and release folders without a manifest (crash leftovers),
    every file under their prefix; only ever called while holding the refresh lock."""
    removed = []
    for name in storage.children(releases_dir):
        path = FileSystems.join(releases_dir, name)
        incomplete = _RELEASE_RE.match(name) and not FileSystems.exists(FileSystems.join(path, MANIFEST))
        if name.startswith(_STAGING_PREFIX) or incomplete:
            storage.delete_folder(path)
            removed.append(name)
    return removed


def processed_inputs(releases: list[Release]) -> tuple[dict[str, str], dict[str, str]]:
    """(path -> fingerprint, fingerprint -> path) of every input an earlier release consumed."""
    by_path, by_content = {}, {}
    for r in releases:
        for item in r.manifest.get("inputs", []):
            path = canonical(item["path"])
            by_path[path] = item["fingerprint"]
            by_content.setdefault(item["fingerprint"], path)
    return by_path, by_content


def plan(inputs: list[str], releases: list[Release]) -> tuple[list[tuple[str, str]], list[str]]:
    """(new (path, fingerprint) pairs to process, paths already released).

    A file is released when its path was released with the same fingerprint, or when the same
    content was released under another path (a moved or re-uploaded file): reprocessing it would
    only mark every document as an exact duplicate. A changed file under a released path is new."""
    by_path, by_content = processed_inputs(releases)
    new, unchanged = [], []
    for path in map(canonical, inputs):
        fp = fingerprint(path)
        if by_path.get(path) == fp or fp in by_content:
            unchanged.append(path)
        else:
            new.append((path, fp))
    return new, unchanged


def publish(staging: str, final: str) -> None:
    """Make a finished staging folder the release `final`, its manifest last.

    Local: one atomic rename of the folder. Object stores have no folder rename: every
    data file is copied, then the manifest, which is what makes `final` a release; only then
    is staging deleted. A crash before the manifest leaves a manifest-less folder that the
    next refresh deletes and redoes; a crash after it leaves only staging to clean up."""
    if not storage.is_remote(staging):
        os.replace(staging, final)
        return
    storage.copy_folder(staging, final, exclude=(MANIFEST,))
    FileSystems.copy([FileSystems.join(staging, MANIFEST)], [FileSystems.join(final, MANIFEST)])
    storage.delete_folder(staging)


def refresh(options: RunOptions, releases_dir: str, lock_ttl_hours: float = 24.0) -> Release | None:
    """Process the new inputs of `options.inputs` into the next release under `releases_dir`;
    None when there is nothing new. `options` are a run's, but for what a refresh sets itself:
    the output (a staging folder), overwrite, wait, the prior indexes (every release's, then
    those given) and the release fields. `lock_ttl_hours`: the lock of a refresh that died is
    taken over after this long."""
    from .io import expand_inputs

    if not options.inputs:
        raise UsageError("refresh needs --input")
    if options.dedup == ():
        raise UsageError("refresh deduplicates against earlier releases: --dedup none is not allowed")
    try:
        storage.check_access([*options.inputs, releases_dir])
    except storage.StorageAccessError as e:
        raise UsageError(str(e)) from None
    try:
        inputs = expand_inputs(options.inputs)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if "://" not in releases_dir:
        os.makedirs(releases_dir, exist_ok=True)
    try:
        lock = RefreshLock.acquire(releases_dir, ttl_s=float(lock_ttl_hours) * 3600)
    except LockHeld as e:
        raise UsageError(str(e)) from None
    try:
        return _refresh_locked(options, inputs, releases_dir)
    finally:
        lock.release()


def _refresh_locked(options: RunOptions, inputs: list[str], releases_dir: str) -> Release | None:
    removed = remove_incomplete(releases_dir)
    if removed:
        print(f"refresh: removed unfinished {', '.join(removed)} (an earlier run did not complete)", file=sys.stderr)
    releases = list_releases(releases_dir)
    new, unchanged = plan(inputs, releases)
    print(f"refresh: {len(inputs)} input file(s): {len(new)} new, {len(unchanged)} already released "
          f"in {len(releases)} release(s)", file=sys.stderr)
    if not new:
        print("refresh: nothing to do", file=sys.stderr)
        return None

    number = (releases[-1].number if releases else 0) + 1
    name = f"release-{number:05d}"
    staging = FileSystems.join(releases_dir, _STAGING_PREFIX + name)
    final = FileSystems.join(releases_dir, name)
    run(dataclasses.replace(
        options, inputs=[path for path, _ in new], output=staging, overwrite=True,
        prior_indexes=[r.dedup_index for r in releases] + list(options.prior_indexes),
        wait=True,  # the manifest may only be written once the data is complete
        # The run writes the manifest (pipelines.release) with these fields added, last of its files.
        release_fields={"release": number, "name": name, "previous": [r.name for r in releases]},
        input_fingerprints=dict(new)))
    manifest, _ = read_manifest(staging)
    publish(staging, final)
    print(f"refresh: published {final}", file=sys.stderr)
    return Release(number, final, manifest)
