"""Folders on local disk and on object stores (gs://), with one meaning: a folder is a prefix.

Beam's `FileSystems.exists/delete` on "gs://b/out" look at one object of exactly that name,
so on GCS a non-empty output looks absent and a folder delete removes nothing. Everything
here lists and deletes by prefix instead, so local and gs:// paths behave alike.
"""
from __future__ import annotations

import json
import os
import shutil

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from .files import TMP_PREFIX, atomic_write, sha256_hex

# Beam deletes/copies in batches itself; chunking keeps one failed call from hiding the rest.
_BATCH = 1000


class StorageAccessError(Exception):
    """The object store cannot be reached or refuses us: a one-line, actionable message."""


def is_remote(path: str) -> bool:
    return "://" in path


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def _prefix(folder: str) -> str:
    return folder.rstrip("/") + "/"


def list_files(folder: str) -> list[str]:
    """Every file under `folder` (recursively), sorted; [] when there is none."""
    if not is_remote(folder):
        out = []
        for root, _, names in os.walk(folder):
            out.extend(os.path.join(root, n) for n in names)
        return sorted(out)
    prefix = _prefix(folder)
    return sorted(m.path for m in FileSystems.match([prefix + "**"])[0].metadata_list if m.path != prefix)


def is_empty(folder: str) -> bool:
    return not list_files(folder)


def children(folder: str) -> list[str]:
    """Immediate child names (files and 'folders') under `folder`."""
    if not is_remote(folder):
        return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    prefix = _prefix(folder)
    return sorted({p[len(prefix):].split("/")[0] for p in list_files(folder) if p.startswith(prefix)})


def delete_folder(folder: str) -> int:
    """Delete everything under `folder` (and a file of that name); the number of files removed. Verified: an object
    store that silently kept a file raises instead of reporting a removal that did not happen."""
    if not is_remote(folder):
        if not os.path.exists(folder):
            return 0
        n = len(list_files(folder)) if os.path.isdir(folder) else 1
        shutil.rmtree(folder) if os.path.isdir(folder) else os.remove(folder)
        return n
    files = list_files(folder)
    if FileSystems.exists(folder.rstrip("/")):  # a file of that very name (stats.json)
        files.append(folder.rstrip("/"))
    for i in range(0, len(files), _BATCH):
        FileSystems.delete(files[i:i + _BATCH])
    left = list_files(folder) + ([folder] if FileSystems.exists(folder.rstrip("/")) else [])
    if left:
        raise OSError(f"could not delete {len(left)} file(s) under {folder}, e.g. {left[0]}")
    return len(files)


def copy_folder(src: str, dst: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """Copy every file under `src` to the same relative path under `dst` (names in `exclude`,
    relative to `src`, are skipped); the destination paths."""
    prefix = _prefix(src) if is_remote(src) else src.rstrip(os.sep) + os.sep
    pairs = []
    for path in list_files(src):
        rel = path[len(prefix):]
        if rel in exclude:
            continue
        pairs.append((path, join(dst, *rel.split("/")) if is_remote(dst) else os.path.join(dst, rel)))
    if not is_remote(dst):
        for _, d in pairs:
            os.makedirs(os.path.dirname(d), exist_ok=True)
    for i in range(0, len(pairs), _BATCH):
        chunk = pairs[i:i + _BATCH]
        FileSystems.copy([s for s, _ in chunk], [d for _, d in chunk])
    return [d for _, d in pairs]


def write_bytes(path: str, data: bytes) -> None:
    """Store `data` as given (no compression inferred from the name)."""
    if not is_remote(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def replace_file(path: str, write) -> None:
    """Replace the file `path` with what `write(f)` writes to a binary file object (or with
    `write` itself when it is bytes), written under a temporary name first and then renamed
    over `path`: a reader (or a crash) sees the old file or the new one, never a torn one."""
    if not is_remote(path):
        atomic_write(path, write)
        return
    head, name = path.rsplit("/", 1)
    tmp = join(head, f"{TMP_PREFIX}{os.getpid()}-{name}")
    if isinstance(write, bytes):
        write_bytes(tmp, write)
    else:
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            write(f)
    FileSystems.rename([tmp], [path])


def read_bytes(path: str) -> bytes:
    """The stored bytes (a .gz file is not decompressed)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def file_sha256(path: str) -> str:
    """SHA-256 (hex) of the stored bytes of a local or remote file, streamed."""
    if not is_remote(path):  # plain open: Beam's local filesystem adds nothing but overhead here
        with open(path, "rb") as f:
            return sha256_hex(f)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return sha256_hex(f)


def exists(path: str) -> bool:
    """Whether the *file* `path` exists (for folders use is_empty)."""
    return FileSystems.exists(path)


def create_if_absent(path: str, data: bytes) -> bool:
    """Write `path` only if no file of that name exists; True when this call created it.
    Atomic on local disk (O_EXCL) and on GCS (ifGenerationMatch=0). Stores without
    preconditions fall back to write-then-compare, which the caller's read-back completes."""
    if not is_remote(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True
    if path.startswith("gs://"):
        from apache_beam.io.gcp import gcsio
        from google.api_core.exceptions import PreconditionFailed

        if FileSystems.exists(path):  # cheap, and right on emulators that ignore preconditions
            return False
        bucket, _, name = path[len("gs://"):].partition("/")
        blob = gcsio.GcsIO().client.bucket(bucket).blob(name)
        try:
            blob.upload_from_string(data, if_generation_match=0)
        except PreconditionFailed:
            return False
        return True
    if FileSystems.exists(path):
        return False
    write_bytes(path, data)
    return True


def json_lines(folder: str):
    """The JSON values of every line of every file under `folder` (uncompressed JSONL), streamed."""
    for path in list_files(folder):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def read_json(path: str) -> dict:
    return json.loads(read_bytes(path).decode("utf-8"))


def check_access(paths: list[str], probe: list[str] | None = None, timeout_s: float = 15.0) -> None:
    """Fail fast, in one line, when gs:// paths cannot be used from this machine: no
    credentials, no network, or no permission. Without it Beam retries credential lookup
    and listing for minutes and ends in a long traceback. Credentials are checked when any
    of `paths` is on GCS; the buckets of `probe` (default: all of `paths`) are listed once
    (one object), which a remote launch limits to what the launcher itself touches."""
    if not any(p.startswith("gs://") for p in paths):
        return
    probe = paths if probe is None else probe
    buckets = sorted({p[len("gs://"):].split("/")[0] for p in probe if p.startswith("gs://")})
    try:
        import google.auth
        import google.auth.exceptions
        from google.auth.transport.requests import Request
    except ImportError as e:
        raise StorageAccessError(f"gs:// paths need the GCP extras (pip install 'apache-beam[gcp]'): {e}") from e

    class _ShortRequest(Request):
        def __call__(self, *args, **kwargs):
            kwargs["timeout"] = timeout_s
            return super().__call__(*args, **kwargs)

    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        credentials, _ = google.auth.default()
    except google.auth.exceptions.DefaultCredentialsError:
        if emulator:
            credentials = None  # an emulator accepts anonymous requests
        else:
            raise StorageAccessError(
                "no Google Cloud credentials for gs:// paths: run `gcloud auth application-default login` "
                "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file") from None
    try:
        if credentials is not None and not credentials.valid:
            credentials.refresh(_ShortRequest())
    except Exception as e:  # noqa: BLE001 - any failure here is reported in one line
        raise StorageAccessError(f"cannot obtain a Google Cloud access token ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:200]}); check the network and credentials") from None
    from google.cloud import storage

    client = storage.Client(credentials=credentials, project=os.environ.get("GOOGLE_CLOUD_PROJECT") or "roots")
    for bucket in buckets:
        try:
            next(iter(client.list_blobs(bucket, max_results=1, timeout=timeout_s, retry=None)), None)
        except Exception as e:  # noqa: BLE001
            kind = type(e).__name__
            hint = {"NotFound": "the bucket does not exist", "Forbidden": "no permission to list it"}.get(
                kind, "check the network, the credentials and the bucket name")
            raise StorageAccessError(f"cannot list gs://{bucket}/ ({hint}; {kind}: "
                                     f"{str(e).splitlines()[0][:160]})") from None
