"""RunStats: what a run's events add up to, the one shape of a run's statistics. A bundle's,
a job's and a sharded run's stats are RunStats summed with `+`; `summary()` is the stats.json
object. Plain Python: the events are made and folded in Beam by pipelines/stats.py.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import NamedTuple

SCHEMA_VERSION = 2
_EXAMPLES = 20  # repeated ids / mismatched files listed by name in stats.json
_PAGES = ("response", "resource", "conversion", "(file)")  # web records counted per domain (not requests, metadata)


class WebEvent(NamedTuple):
    """What a web record adds to stats.json's `web` section."""
    warc_type: str
    encoding: str | None
    encoding_decision: str | None
    domain: str
    blocklist: str | None
    template_lines: int  # site-template lines removed


class Event(NamedTuple):
    """One record's part of the stats. The slots mean the same for every kind; what a kind
    leaves unset is None or 0. dup_id: `lang` is the repeated id, `raw` its record count;
    read: `raw` is the records the reader produced from `path`."""
    kind: str                # kept | dropped | malformed | read | dup_id
    lang: str | None
    reason: str | None       # drop reason, or the malformed record's error kind
    raw: int                 # raw bytes (read: records; dup_id: records)
    kept: int                # kept bytes
    path: str | None         # input file
    source: str | None
    pii: dict | None         # PII redactions of a kept document
    web: WebEvent | None


@dataclass
class RunStats:
    """What a run's events add up to: the one shape of a run's statistics, summable with `+`
    (a bundle's, a worker's, a shard's; `sum()` starts from 0), and `summary()`, the stats.json
    object. Every field but `dedup` is a total over events, so any grouping of the same events
    sums to the same RunStats."""
    # (kind, lang, reason) -> (records, raw bytes, kept bytes); kind kept | dropped | malformed
    counts: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)    # input file -> [records read, records accounted for]
    # Repeated ids: (ids, their records, the top examples as (-records, id), smallest first).
    dup: tuple = (0, 0, ())
    sources: dict = field(default_factory=dict)  # source -> {"kept"|reason: records}
    pii: dict = field(default_factory=dict)      # PII kind -> redactions in kept text
    # Web records' tables, once a web record is seen: {"warc_types"|"encodings"|
    # "encoding_decisions"|"blocklists": {name: n}, "domains": {domain: {"kept"|reason: n}},
    # "template_lines_removed": n}.
    web: dict | None = None
    # The dedup stage's counters (Beam metrics, which the launcher reads once the job is
    # done); None: no dedup stage ran.
    dedup: dict | None = None

    def add(self, event: Event) -> None:
        """Count one event (the hot path: once per record)."""
        kind, lang, reason, raw, kept, path, source, pii, web = event  # Event's fields, in order
        if web is not None:
            _add_web(self, web, reason or "kept")
        if source is not None:
            per = self.sources.get(source)
            if per is None:
                per = self.sources[source] = {}
            outcome = reason or "kept"
            per[outcome] = per.get(outcome, 0) + 1
        if pii:
            _add(self.pii, pii)
        if kind == "dup_id":
            ids, records, examples = self.dup
            self.dup = (ids + 1, records + raw, tuple(sorted((*examples, (-raw, lang)))[:_EXAMPLES]))
            return
        files = self.files.get(path)
        if files is None:
            files = self.files[path] = [0, 0]
        if kind == "read":
            files[0] += raw
            return
        files[1] += 1
        key = (kind, lang, reason)
        count, r, k = self.counts.get(key, (0, 0, 0))
        self.counts[key] = (count + 1, r + raw, k + kept)

    def __iadd__(self, other: "RunStats") -> "RunStats":
        """Add `other` into this one (nothing of `other` is shared or changed)."""
        for key, (c, r, k) in other.counts.items():
            oc, orr, ok = self.counts.get(key, (0, 0, 0))
            self.counts[key] = (oc + c, orr + r, ok + k)
        for path, (read, accounted) in other.files.items():
            f = self.files.setdefault(path, [0, 0])
            f[0] += read
            f[1] += accounted
        for source, per in other.sources.items():
            _add(self.sources.setdefault(source, {}), per)
        _add(self.pii, other.pii)
        if other.web is not None:
            _merge_web(self.web if self.web is not None else self._new_web(), other.web)
        if other.dedup is not None:
            _add(self.dedup if self.dedup is not None else self._new_dedup(), other.dedup)
        ids, records, examples = self.dup
        self.dup = (ids + other.dup[0], records + other.dup[1], tuple(sorted((*examples, *other.dup[2]))[:_EXAMPLES]))
        return self

    def __add__(self, other):
        if not isinstance(other, RunStats):
            return NotImplemented
        out = RunStats()
        out += self
        out += other
        return out

    def __radd__(self, other):
        if other == 0:  # sum() starts from 0
            return self + RunStats()
        return NotImplemented

    def _new_web(self) -> dict:
        self.web = {"warc_types": {}, "encodings": {}, "encoding_decisions": {}, "blocklists": {}, "domains": {},
                    "template_lines_removed": 0}
        return self.web

    def _new_dedup(self) -> dict:
        self.dedup = {}
        return self.dedup

    @property
    def read(self) -> int:
        """Records read, by the readers' own count (not a sum of outcomes)."""
        return sum(r for r, _ in self.files.values())

    def to_json(self) -> str:
        """This RunStats as JSON text (`from_json` reads it back equal): how a job hands its
        stats to the launcher. JSON, not pickle: the text lies in the output folder, which may
        be a shared bucket."""
        return json.dumps({"counts": [[*key, *value] for key, value in self.counts.items()],
                           "files": [[path, *value] for path, value in self.files.items()],
                           "dup": [self.dup[0], self.dup[1], [list(e) for e in self.dup[2]]],
                           "sources": self.sources, "pii": self.pii, "web": self.web, "dedup": self.dedup},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "RunStats":
        d = json.loads(text)
        return cls(counts={(kind, lang, reason): (n, raw, kept) for kind, lang, reason, n, raw, kept in d["counts"]},
                   files={path: [read, accounted] for path, read, accounted in d["files"]},
                   dup=(d["dup"][0], d["dup"][1], tuple(tuple(e) for e in d["dup"][2])),
                   sources=d["sources"], pii=d["pii"], web=d["web"], dedup=d["dedup"])

    def summary(self, reasons_in_order: list[str]) -> dict:
        """The stats.json object (without the launcher's `run` and a sharded run's `sharding`)."""
        return _summary(self, reasons_in_order)

    def rebook(self, event: Event, reason: str) -> None:
        """Move one kept document (its kept `event`) to `reason`, every count the event added
        (per language, bytes, source, domain, PII redactions) with it: a sharded run settling
        its bridges drops documents a shard's job had kept. Conservation is unchanged (the
        document is still accounted for once, from the same input file); the dedup counters
        stay as the job reported them."""
        _bump_counts(self.counts, ("kept", event.lang, None), -1, -event.raw, -event.kept)
        _bump_counts(self.counts, ("dropped", event.lang, reason), 1, event.raw, 0)
        _move(self.sources[event.source], "kept", reason)
        if event.web is not None and event.web.warc_type in _PAGES:
            _move(self.web["domains"][event.web.domain], "kept", reason)
        for kind, n in (event.pii or {}).items():
            self.pii[kind] -= n
            if not self.pii[kind]:  # as a run that never kept it: kinds with no redaction are absent
                del self.pii[kind]


def _bump_counts(counts: dict, key: tuple, n: int, raw: int, kept: int) -> None:
    c, r, k = counts.get(key, (0, 0, 0))
    if c + n:
        counts[key] = (c + n, r + raw, k + kept)
    else:  # no record left under this key: as a run that never counted one there
        counts.pop(key, None)


def _move(per: dict, old: str, new: str) -> None:
    """One record of an outcome table ({"kept"|reason: n}) from `old` to `new`."""
    per[old] -= 1
    if not per[old]:
        del per[old]
    per[new] = per.get(new, 0) + 1


def _add_web(stats: RunStats, web: WebEvent, outcome: str) -> None:
    warc_type, encoding, decision, domain, blocklist, template_lines = web  # WebEvent's fields, in order
    w = stats.web if stats.web is not None else stats._new_web()
    w["template_lines_removed"] += template_lines
    for table, name in (("warc_types", warc_type), ("encodings", encoding), ("encoding_decisions", decision),
                        ("blocklists", blocklist)):
        if name is not None:
            w[table][name] = w[table].get(name, 0) + 1
    if warc_type in _PAGES:
        per = w["domains"].setdefault(domain, {})
        per[outcome] = per.get(outcome, 0) + 1


def _merge_web(into: dict, other: dict) -> None:
    for table in ("warc_types", "encodings", "encoding_decisions", "blocklists"):
        _add(into[table], other[table])
    into["template_lines_removed"] += other["template_lines_removed"]
    for domain, per in other["domains"].items():
        _add(into["domains"].setdefault(domain, {}), per)


def _web_section(web: dict, reasons_in_order: list[str]) -> dict:
    """stats.json's `web`: records by WARC type, pages by encoding, by how the encoding was
    decided and by blocklist, and per-domain rows like the per-source ones."""
    def by_count(table):
        return dict(sorted(table.items(), key=lambda kv: (-kv[1], kv[0])))

    return {"warc_types": by_count(web["warc_types"]), "encodings": by_count(web["encodings"]),
            "encoding_decisions": by_count(web["encoding_decisions"]), "blocklists": by_count(web["blocklists"]),
            "template_lines_removed": web["template_lines_removed"],
            "domains": _rows(web["domains"], reasons_in_order)}


def _summary(stats: RunStats, reasons_in_order: list[str]) -> dict:
    """RunStats.summary: the stats.json object from the totals."""
    dropped: dict[str, int] = {}
    malformed_errors: dict[str, int] = {}
    languages: dict[str, dict[str, int]] = {}
    kept = malformed = read_bytes = kept_bytes = 0
    for (kind, lang, reason), (count, raw, cleaned) in stats.counts.items():
        if kind == "malformed":
            malformed += count
            malformed_errors[reason] = malformed_errors.get(reason, 0) + count
            continue
        lang_stats = languages.setdefault(lang, {"read": 0, "kept": 0, "dropped": 0, "read_bytes": 0, "kept_bytes": 0})
        lang_stats["read"] += count
        lang_stats["read_bytes"] += raw
        read_bytes += raw
        if kind == "kept":
            kept += count
            kept_bytes += cleaned
            lang_stats["kept"] += count
            lang_stats["kept_bytes"] += cleaned
        else:
            dropped[reason] = dropped.get(reason, 0) + count
            lang_stats["dropped"] += count
    read = stats.read
    mismatched = {p: {"read": r, "accounted": a}
                  for p, (r, a) in sorted(stats.files.items(), key=lambda kv: str(kv[0])) if r != a}
    n_ids, n_records, examples = stats.dup
    order = _reason_order(dropped, reasons_in_order)
    accounted = kept + malformed + sum(dropped.values())
    out = {
        "schema_version": SCHEMA_VERSION,
        "read": read,
        "kept": kept,
        "malformed": malformed,
        "dropped": {r: dropped[r] for r in order},
        "malformed_errors": dict(sorted(malformed_errors.items())),
        "corrupt_files": sum(n for kind, n in malformed_errors.items() if kind.startswith("corrupt ")),
        "bytes": {"read": read_bytes, "kept": kept_bytes},
        "languages": dict(sorted(languages.items(), key=lambda kv: -kv[1]["read"])),
        # Records that reached processing, by their `source` field (malformed ones have none).
        "sources": _rows(stats.sources, reasons_in_order),
        "pii_redacted": dict(sorted(stats.pii.items())),
        "duplicate_ids": {"ids": n_ids, "records": n_records,
                          "examples": [{"id": i, "records": -n} for n, i in examples]},
        "conservation": {"ok": not mismatched and read == accounted, "read": read, "accounted": accounted,
                         "files": len(stats.files), "mismatched_files": dict(list(mismatched.items())[:_EXAMPLES]),
                         "mismatched_file_count": len(mismatched)},
        "funnel": _funnel(read, malformed, dropped, order),
    }
    if stats.web:  # runs over web records only: other runs' stats.json keep their layout
        out["web"] = _web_section(stats.web, reasons_in_order)
    if stats.dedup is not None:
        # What the dedup stage did (candidate pairs, edges, prior matches): where its time goes.
        out["dedup"] = dict(sorted(stats.dedup.items()))
    return out


def _rows(per_outcome: dict, reasons_in_order: list[str]) -> dict:
    """{name: {"kept": n, reason: n}} (per source, per domain) -> stats.json's rows, most read
    first, each row's drops in funnel order."""
    rows = {}
    for name, per in per_outcome.items():
        kept = per.get("kept", 0)
        dropped = {r: n for r, n in per.items() if r != "kept"}
        rows[name] = {"read": kept + sum(dropped.values()), "kept": kept,
                      "dropped": {r: dropped[r] for r in _reason_order(dropped, reasons_in_order)}}
    return dict(sorted(rows.items(), key=lambda kv: (-kv[1]["read"], kv[0])))


def _reason_order(dropped: dict, reasons_in_order: list[str]) -> list[str]:
    return [r for r in reasons_in_order if r in dropped] + sorted(set(dropped) - set(reasons_in_order))


def _funnel(read: int, malformed: int, dropped: dict, order: list[str]) -> list[dict]:
    funnel, remaining = [], read - malformed
    funnel.append({"stage": "read", "remaining": read})
    funnel.append({"stage": "malformed", "removed": malformed, "remaining": remaining})
    for reason in order:
        remaining -= dropped[reason]
        funnel.append({"stage": reason, "removed": dropped[reason], "remaining": remaining})
    return funnel


def _add(into: dict, other: dict) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def repeated_ids(sorted_counts) -> tuple:
    """RunStats.dup (stats.json's `duplicate_ids`) from (id, records) pairs sorted by id, an id
    possibly in several consecutive pairs (one per shard): streamed, so it holds only the top
    examples."""
    n_ids = n_records = 0
    top: list[tuple[int, str]] = []  # (-records, id): the order RunStats keeps examples in
    for doc_id, group in itertools.groupby(sorted_counts, key=lambda kv: kv[0]):
        n = sum(c for _, c in group)
        if n > 1:
            n_ids += 1
            n_records += n
            top = sorted(top + [(-n, doc_id)])[:_EXAMPLES]
    return n_ids, n_records, tuple(top)
