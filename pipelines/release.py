"""A corpus release's manifest: what a run wrote, from which inputs, config and code.

    OUT/manifest.json   {"schema": "roots/corpus-release", "files": {rel: {bytes, sha256}},
                         "config": {path, text, sha256}, "code": {version, git_commit,
                         pipelines_sha256}, "inputs": [{path, bytes, fingerprint}], "run", "stats"}

Every `roots-pipeline run` that waits for its job (a local run, or a remote one with --wait)
and every `refresh` writes it as its last file: a folder with a manifest is a finished
release. It names every other file of the output by SHA-256, the resolved config by its text,
and its inputs by content (local: SHA-256; object stores: their own checksum and size, so a
gs:// input is never downloaded to be hashed). A token-shard manifest names this file by its
digest (`roots_model.data`), and `roots-eval lineage --verify` recomputes every digest here.
The manifest does not record its own location: a release may be copied or moved whole.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import yaml
from apache_beam.io.filesystems import FileSystems

from . import storage
from .dataset_card import dataset_card
from .version import code_version

SCHEMA = "roots/corpus-release"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
CARD = "README.md"
# Files a run leaves that are not part of its result: the refresh lock lives beside releases,
# temporary files are renamed away before the manifest is written.
_NOT_RELEASED = (MANIFEST,)


class ReleaseError(ValueError):
    """A release or one of its files does not match its manifest; the message names the file."""


def fingerprint(path: str) -> str:
    """Content fingerprint of an input: SHA-256 for local files; object stores already keep a
    checksum (GCS: crc32c/md5), which is cheaper than downloading the file to hash it."""
    if not storage.is_remote(path):
        return "sha256:" + storage.file_sha256(path)
    size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    return f"{FileSystems.get_scheme(path)}:{FileSystems.checksum(path)}:{size}"


def _size(path: str) -> int:
    if not storage.is_remote(path):
        return os.path.getsize(path)
    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes


def input_entry(path: str, known: str | None = None) -> dict:
    """{path, bytes, fingerprint} of one input; `known`: a fingerprint already computed."""
    return {"path": path, "bytes": _size(path), "fingerprint": known or fingerprint(path)}


def config_text(raw: dict) -> str:
    """The resolved config (defaults + the user's file) as YAML, keys sorted: the same
    settings always give the same text, and so the same digest."""
    return yaml.safe_dump(raw, sort_keys=True, allow_unicode=True, default_flow_style=False)


def list_release_files(folder: str) -> dict[str, str]:
    """{relative name: path} of the files a release consists of (all but its manifest)."""
    if storage.is_remote(folder):
        prefix = folder.rstrip("/") + "/"
    else:
        prefix = folder.rstrip(os.sep) + os.sep
    out = {}
    for path in storage.list_files(folder):
        rel = path[len(prefix):].replace(os.sep, "/")
        if rel not in _NOT_RELEASED:
            out[rel] = path
    return out


def file_entries(folder: str) -> dict[str, dict]:
    return {rel: {"bytes": _size(path), "sha256": storage.file_sha256(path)}
            for rel, path in sorted(list_release_files(folder).items())}


def release_fields(*, config_raw: dict, config_path: str | None, inputs: list[dict], stats: dict, run: dict,
                   extra: dict | None = None) -> dict:
    """Everything a release manifest says but its files' digests."""
    text = config_text(config_raw)
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        **(extra or {}),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "code": code_version(),
        "config": {"path": config_path, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "text": text},
        "run": run,
        "inputs": inputs,
        "stats": {k: stats[k] for k in ("read", "kept", "malformed", "dropped", "bytes") if k in stats},
    }


def write_release(folder: str, fields: dict, stats: dict) -> dict:
    """Finish the output `folder` as a release: its dataset card (README.md), then the
    manifest with the digest of every file, card included. Returns the manifest."""
    storage.replace_file(storage.join(folder, CARD), dataset_card(stats, fields).encode("utf-8"))
    manifest = {**fields, "files": file_entries(folder)}
    write_manifest(folder, manifest)
    return manifest


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def write_manifest(folder: str, manifest: dict) -> str:
    """Write `folder`/manifest.json atomically (local and object stores); its path."""
    path = storage.join(folder, MANIFEST)
    storage.replace_file(path, manifest_bytes(manifest))
    return path


def manifest_path(release: str) -> str:
    """A release folder's manifest path (a manifest path is returned as it is)."""
    return release if release.endswith(MANIFEST) else storage.join(release, MANIFEST)


def read_manifest(release: str) -> tuple[dict, str]:
    """(manifest, its sha256) of a release folder or manifest path; ReleaseError if it is none."""
    path = manifest_path(release)
    try:
        data = storage.read_bytes(path)
    except Exception as e:  # noqa: BLE001 - local and object-store errors differ in type
        raise ReleaseError(f"{path}: cannot read the release manifest ({e})") from None
    try:
        manifest = json.loads(data.decode("utf-8"))
    except ValueError as e:
        raise ReleaseError(f"{path}: not JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise ReleaseError(f"{path}: not a corpus release manifest (schema {SCHEMA!r} expected)")
    return manifest, hashlib.sha256(data).hexdigest()


def release_folder(path: str) -> str:
    """The folder of a release given its manifest path."""
    if storage.is_remote(path):
        return path.rsplit("/", 1)[0]
    return os.path.dirname(os.path.abspath(path))


def verify_files(folder: str, manifest: dict) -> int:
    """Recompute every listed file's size and SHA-256; raise ReleaseError naming the first that
    differs or is gone. Returns the number of files checked."""
    for rel, expected in manifest.get("files", {}).items():
        path = storage.join(folder, *rel.split("/")) if storage.is_remote(folder) else os.path.join(folder, rel)
        if not storage.exists(path):
            raise ReleaseError(f"{path}: listed in the release manifest but missing")
        if _size(path) != expected["bytes"] or storage.file_sha256(path) != expected["sha256"]:
            raise ReleaseError(f"{path}: does not match the release manifest (changed after the release)")
    return len(manifest.get("files", {}))


def verify_config(manifest: dict) -> None:
    config = manifest.get("config") or {}
    if hashlib.sha256(config.get("text", "").encode("utf-8")).hexdigest() != config.get("sha256"):
        raise ReleaseError("the release manifest's config text does not match its digest")


def verify_input(entry: dict) -> None:
    path = entry["path"]
    if not storage.exists(path):
        raise ReleaseError(f"{path}: input of the release is missing")
    if fingerprint(path) != entry["fingerprint"]:
        raise ReleaseError(f"{path}: input of the release changed since it was processed")
