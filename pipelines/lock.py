"""The refresh lock: one file `RELEASES/_refresh.lock` naming its owner and an expiry.

Taken by create-if-absent (O_EXCL locally, ifGenerationMatch=0 on GCS) and read back, so of
two refreshes started together exactly one proceeds; the other stops with a clear error
before touching anything (without the lock it would delete the first one's staging folder).
A lock past its expiry, or one whose owner process on this same machine is gone, belongs to
a run that died: the next refresh takes it over. The expiry must outlast the longest
refresh, Dataflow job included (default 24 h).
"""
from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from . import storage

LOCK_FILE = "_refresh.lock"


class LockHeld(Exception):
    """Another refresh holds the lock (and it has not expired)."""


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds")


def _read(path: str) -> dict | None:
    try:
        return storage.read_json(path)
    except Exception:  # noqa: BLE001 - gone between list and read, or torn: treated as absent
        return None


def _owner() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "?"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _dead_here(held: dict) -> bool:
    """The lock's owner ran on this machine and its process is gone (killed, crashed)."""
    user_host, _, pid = str(held.get("owner", "")).partition(" pid ")
    if user_host.split("@")[-1] != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


@dataclass
class RefreshLock:
    path: str
    token: str
    owner: str

    @classmethod
    def acquire(cls, releases_dir: str, ttl_s: float, clock=time.time) -> "RefreshLock":
        path = FileSystems.join(releases_dir, LOCK_FILE)
        owner, token = _owner(), uuid.uuid4().hex
        for _ in range(3):
            now = clock()
            body = {"owner": owner, "token": token, "created": _iso(now), "expires": _iso(now + ttl_s),
                    "expires_at": now + ttl_s}
            if storage.create_if_absent(path, json.dumps(body, indent=1).encode("utf-8")):
                held = _read(path)
                if held and held.get("token") == token:
                    return cls(path, token, owner)
                # A store without create preconditions let another writer in: it won.
                raise LockHeld(cls._message(path, held or {}))
            held = _read(path)
            if held is None:
                continue  # released between our attempt and the read: try again
            if float(held.get("expires_at", 0)) > now and not _dead_here(held):
                raise LockHeld(cls._message(path, held))
            print(f"refresh: taking over the lock of {held.get('owner', '?')} (expires {held.get('expires', '?')}; "
                  "that run is over)", file=sys.stderr)
            FileSystems.delete([path])
        raise LockHeld(f"could not take the refresh lock {path}; another refresh is starting")

    @staticmethod
    def _message(path: str, held: dict) -> str:
        return (f"another refresh is running on these releases: {held.get('owner', '?')} holds {path} since "
                f"{held.get('created', '?')} (expires {held.get('expires', '?')}). Wait for it to finish; if that "
                "run is dead, delete the lock file or wait for it to expire")

    def release(self) -> None:
        held = _read(self.path)
        if held and held.get("token") == self.token:
            FileSystems.delete([self.path])
