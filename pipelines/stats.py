"""Run statistics: every record becomes one event (kept, dropped with a reason, or
malformed), and one CombineFn folds the events into stats.json, so the counts hold on any
runner without relying on metric queries. Drawing stats.json (funnel.html, funnel.png) is
pipelines/stats_render.py.
"""
from __future__ import annotations

import json
from typing import NamedTuple

import apache_beam as beam

SCHEMA_VERSION = 2
_EXAMPLES = 20  # repeated ids / mismatched files listed by name in stats.json


class ConservationError(AssertionError):
    """Documents were lost or counted twice: the independent read count disagrees."""


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


def kept_event(doc: dict) -> Event:
    return Event("kept", doc.get("lang") or "und", None, doc.get("raw_bytes", 0),
                 len(doc["text"].encode("utf-8", "surrogatepass")), doc.get("input_file"), _source(doc),
                 doc.get("pii"), _web(doc))


def dropped_event(doc: dict) -> Event:
    return Event("dropped", doc.get("lang") or "und", doc["reason"], doc.get("raw_bytes", 0), 0,
                 doc.get("input_file"), _source(doc), None, _web(doc))


def _web(doc: dict) -> WebEvent | None:
    web = doc.get("web")
    if web is None:
        return None
    return WebEvent(web.get("warc_type") or "(file)", web.get("encoding"), web.get("encoding_decision"),
                    web.get("domain") or "(none)", web.get("blocklist"), doc.get("template_lines_removed") or 0)


def _source(doc: dict) -> str:
    return str(doc.get("source") or "(none)")


def malformed_event(record: dict) -> Event:
    kind = record["error"].split(":")[0].split(" after ")[0]
    return Event("malformed", "und", kind, 0, 0, record.get("input_file"), None, None, None)


def read_count_event(item: tuple[str, int]) -> Event:
    """(input file, records the reader produced): counted where the records are read, so
    a step that loses or duplicates records downstream makes the check fail."""
    path, n = item
    return Event("read", None, None, n, 0, path, None, None, None)


def duplicate_id_event(item: tuple[str, int]) -> Event:
    doc_id, n = item
    return Event("dup_id", doc_id, None, n, 0, None, None, None, None)


class StatsCombineFn(beam.CombineFn):
    """Events -> {"counts": {(kind, lang, reason): (n, raw bytes, kept bytes)},
    "files": {path: [read, accounted]}, "dup": [ids, records, examples],
    "sources": {source: {"kept": n, reason: n, ...}}, "pii": {kind: n},
    "web": {"warc_types"|"encodings"|"encoding_decisions"|"blocklists": {name: n},
            "domains": {domain: {"kept": n, reason: n}}}} (web: only once a web record is seen)."""

    def create_accumulator(self):
        return {"counts": {}, "files": {}, "dup": [0, 0, []], "sources": {}, "pii": {}}

    def add_input(self, acc, event: Event):
        kind, lang, reason, raw, kept, path, source, pii, web = event  # Event's fields, in order
        if web is not None:
            _add_web(acc, web, reason or "kept")
        if source is not None:
            per = acc["sources"].setdefault(source, {})
            per[reason or "kept"] = per.get(reason or "kept", 0) + 1
        if pii:
            _add(acc["pii"], pii)
        if kind == "dup_id":
            dup = acc["dup"]
            dup[0] += 1
            dup[1] += raw
            dup[2] = sorted(dup[2] + [(-raw, lang)])[:_EXAMPLES]
            return acc
        files = acc["files"].setdefault(path, [0, 0])
        if kind == "read":
            files[0] += raw
            return acc
        files[1] += 1
        key = (kind, lang, reason)
        count, r, k = acc["counts"].get(key, (0, 0, 0))
        acc["counts"][key] = (count + 1, r + raw, k + kept)
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            for key, (c, r, k) in acc["counts"].items():
                oc, orr, ok = out["counts"].get(key, (0, 0, 0))
                out["counts"][key] = (oc + c, orr + r, ok + k)
            for path, (read, accounted) in acc["files"].items():
                f = out["files"].setdefault(path, [0, 0])
                f[0] += read
                f[1] += accounted
            for source, per in acc["sources"].items():
                _add(out["sources"].setdefault(source, {}), per)
            _add(out["pii"], acc["pii"])
            if "web" in acc:
                _merge_web(out.setdefault("web", _new_web()), acc["web"])
            d = out["dup"]
            d[0] += acc["dup"][0]
            d[1] += acc["dup"][1]
            d[2] = sorted(d[2] + acc["dup"][2])[:_EXAMPLES]
        return out

    def extract_output(self, acc):
        return acc


def _new_web() -> dict:
    return {"warc_types": {}, "encodings": {}, "encoding_decisions": {}, "blocklists": {}, "domains": {},
            "template_lines_removed": 0}


def _add_web(acc: dict, web: WebEvent, outcome: str) -> None:
    warc_type, encoding, decision, domain, blocklist, template_lines = web  # WebEvent's fields, in order
    w = acc.get("web") or acc.setdefault("web", _new_web())
    w["template_lines_removed"] += template_lines
    for table, name in (("warc_types", warc_type), ("encodings", encoding), ("encoding_decisions", decision),
                        ("blocklists", blocklist)):
        if name is not None:
            w[table][name] = w[table].get(name, 0) + 1
    if warc_type in ("response", "resource", "conversion", "(file)"):  # pages, not requests or metadata
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

    domains = _sources(web["domains"])
    return {"warc_types": by_count(web["warc_types"]), "encodings": by_count(web["encodings"]),
            "encoding_decisions": by_count(web["encoding_decisions"]), "blocklists": by_count(web["blocklists"]),
            "template_lines_removed": web["template_lines_removed"],
            "domains": {d: {**row, "dropped": {r: row["dropped"][r]
                                               for r in _reason_order(row["dropped"], reasons_in_order)}}
                        for d, row in sorted(domains.items(), key=lambda kv: (-kv[1]["read"], kv[0]))}}


def _web_totals(web: dict) -> dict:
    """A `web` section back to the accumulator's shape (to merge the shards of a run)."""
    return {**{t: dict(web[t]) for t in ("warc_types", "encodings", "encoding_decisions", "blocklists")},
            "template_lines_removed": web["template_lines_removed"],
            "domains": {d: {"kept": row["kept"], **row["dropped"]} for d, row in web["domains"].items()}}


class BundleStats(beam.DoFn):
    """Records -> one StatsCombineFn accumulator per bundle of their events (`event(record)`).

    The events are folded in the stage that makes them. A Flatten of the per-document event
    streams would send every event through the runner into a stage of its own (Beam's local
    runner materializes a multi-input Flatten), and Beam lifts a combine into the producing
    stage only where the combine follows it directly; this is that lifting done by hand, so
    only a few accumulators leave the stage."""

    def __init__(self, event):
        self.event = event

    def setup(self):
        self.fn = StatsCombineFn()

    def start_bundle(self):
        self.acc = None

    def process(self, record):
        if self.acc is None:
            self.acc = self.fn.create_accumulator()
        self.fn.add_input(self.acc, self.event(record))

    def finish_bundle(self):
        if self.acc is not None:
            # Batch pipelines only (a local or Dataflow batch job): the global window.
            yield beam.transforms.window.GlobalWindows.windowed_value_at_end_of_window(self.acc)


def summarize(acc: dict, reasons_in_order: list[str]) -> dict:
    """The stats.json object from the combined events."""
    dropped: dict[str, int] = {}
    malformed_errors: dict[str, int] = {}
    languages: dict[str, dict[str, int]] = {}
    kept = malformed = read_bytes = kept_bytes = 0
    for (kind, lang, reason), (count, raw, cleaned) in acc["counts"].items():
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
    read = sum(r for r, _ in acc["files"].values())  # the readers' own count, not a sum of outcomes
    mismatched = {p: {"read": r, "accounted": a} for p, (r, a) in sorted(acc["files"].items(), key=lambda kv: str(kv[0]))
                  if r != a}
    n_ids, n_records, examples = acc["dup"]
    return _assemble(read, kept, malformed, dropped, reasons_in_order, malformed_errors,
                     sum(n for kind, n in malformed_errors.items() if kind.startswith("corrupt ")),
                     {"read": read_bytes, "kept": kept_bytes}, languages,
                     {"ids": n_ids, "records": n_records, "examples": [{"id": i, "records": -n} for n, i in examples]},
                     mismatched, len(acc["files"]), parts_ok=True,
                     sources=_sources(acc["sources"]), pii=acc["pii"], web=acc.get("web"))


def _sources(per_source: dict) -> dict:
    """{source: {"kept": n, reason: n}} -> stats.json's per-source rows."""
    rows = {}
    for source, per in per_source.items():
        kept = per.get("kept", 0)
        dropped = {r: n for r, n in per.items() if r != "kept"}
        rows[source] = {"read": kept + sum(dropped.values()), "kept": kept, "dropped": dropped}
    return rows


def _assemble(read, kept, malformed, dropped, reasons_in_order, malformed_errors, corrupt, nbytes, languages,
              duplicate_ids, mismatched, files, parts_ok, sources, pii, web=None) -> dict:
    """stats.json from its totals: the one place its layout, conservation verdict and funnel
    are written (a single run and a merge of shards both end here)."""
    order = _reason_order(dropped, reasons_in_order)
    accounted = kept + malformed + sum(dropped.values())
    out = {
        "schema_version": SCHEMA_VERSION,
        "read": read,
        "kept": kept,
        "malformed": malformed,
        "dropped": {r: dropped[r] for r in order},
        "malformed_errors": dict(sorted(malformed_errors.items())),
        "corrupt_files": corrupt,
        "bytes": nbytes,
        "languages": dict(sorted(languages.items(), key=lambda kv: -kv[1]["read"])),
        # Records that reached processing, by their `source` field (malformed ones have none).
        "sources": {src: {**row, "dropped": {r: row["dropped"][r] for r in _reason_order(row["dropped"], reasons_in_order)}}
                    for src, row in sorted(sources.items(), key=lambda kv: (-kv[1]["read"], kv[0]))},
        "pii_redacted": dict(sorted(pii.items())),
        "duplicate_ids": duplicate_ids,
        "conservation": {"ok": parts_ok and not mismatched and read == accounted, "read": read, "accounted": accounted,
                         "files": files, "mismatched_files": dict(list(mismatched.items())[:_EXAMPLES]),
                         "mismatched_file_count": len(mismatched)},
        "funnel": _funnel(read, malformed, dropped, order),
    }
    if web:  # runs over web records only: other runs' stats.json keep their layout
        out["web"] = _web_section(web, reasons_in_order)
    return out


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


def merge_summaries(parts: list[dict], reasons_in_order: list[str], input_files: int,
                    duplicate_ids: dict) -> dict:
    """One stats.json from the stats of the shards of a sharded run (each already checked).
    Repeated ids are counted across shards by the caller (`duplicate_ids`), since a shard sees
    only its own ids."""
    read = kept = malformed = corrupt = 0
    dropped, errors, nbytes, languages, mismatched, sources, pii = {}, {}, {}, {}, {}, {}, {}
    web = None
    for st in parts:
        if "web" in st:
            _merge_web(web if web is not None else (web := _new_web()), _web_totals(st["web"]))
        for src, row in st.get("sources", {}).items():
            merged = sources.setdefault(src, {"read": 0, "kept": 0, "dropped": {}})
            merged["read"] += row["read"]
            merged["kept"] += row["kept"]
            _add(merged["dropped"], row["dropped"])
        _add(pii, st.get("pii_redacted", {}))
        read += st["read"]
        kept += st["kept"]
        malformed += st["malformed"]
        corrupt += st.get("corrupt_files", 0)
        _add(dropped, st["dropped"])
        _add(errors, st.get("malformed_errors", {}))
        _add(nbytes, st["bytes"])
        for lang, ls in st["languages"].items():
            _add(languages.setdefault(lang, {}), ls)
        for path, m in st["conservation"].get("mismatched_files", {}).items():
            _add(mismatched.setdefault(path, {}), m)
    return _assemble(read, kept, malformed, dropped, reasons_in_order, errors, corrupt, nbytes, languages,
                     duplicate_ids, mismatched, input_files, parts_ok=all(st["conservation"]["ok"] for st in parts),
                     sources=sources, pii=pii, web=web)


def rebook_kept_as_dropped(stats: dict, doc: dict, reason: str) -> None:
    """Move one kept document to `reason` in a stats.json object, every count that its kept
    event added (per language, bytes, source, PII redactions) with it: a sharded run settling
    its bridges drops documents a shard's job had kept. Conservation is unchanged (the
    document is still accounted for once); the funnel is redrawn by the merge."""
    event = kept_event(doc)
    lang, kept_bytes, source, pii, web = event.lang, event.kept, event.source, event.pii, event.web
    stats["kept"] -= 1
    stats["dropped"][reason] = stats["dropped"].get(reason, 0) + 1
    per_lang = stats["languages"][lang]
    per_lang["kept"] -= 1
    per_lang["dropped"] += 1
    per_lang["kept_bytes"] -= kept_bytes
    stats["bytes"]["kept"] -= kept_bytes
    per_source = stats["sources"][source]
    per_source["kept"] -= 1
    per_source["dropped"][reason] = per_source["dropped"].get(reason, 0) + 1
    if web is not None and "web" in stats:
        row = stats["web"]["domains"].get(web.domain)
        if row is not None:
            row["kept"] -= 1
            row["dropped"][reason] = row["dropped"].get(reason, 0) + 1
    redacted = stats["pii_redacted"]
    for kind, n in (pii or {}).items():
        redacted[kind] -= n
        if not redacted[kind]:  # as a run that never kept it: kinds with no redaction are absent
            del redacted[kind]


def repeated_ids(sorted_counts) -> dict:
    """`duplicate_ids` of stats.json from (id, records) pairs sorted by id, an id possibly in
    several consecutive pairs (one per shard): streamed, so it holds only the top examples."""
    import itertools

    n_ids = n_records = 0
    top: list[tuple[int, str]] = []  # (-records, id): the order StatsCombineFn keeps examples in
    for doc_id, group in itertools.groupby(sorted_counts, key=lambda kv: kv[0]):
        n = sum(c for _, c in group)
        if n > 1:
            n_ids += 1
            n_records += n
            top = sorted(top + [(-n, doc_id)])[:_EXAMPLES]
    return {"ids": n_ids, "records": n_records, "examples": [{"id": i, "records": -n} for n, i in top]}


def check_conservation(stats: dict) -> None:
    """Raise ConservationError unless every record read is kept, dropped or dead-lettered
    exactly once, in total and file by file."""
    total = stats["kept"] + stats["malformed"] + sum(stats["dropped"].values())
    cons = stats.get("conservation", {})
    if total != stats["read"] or cons.get("mismatched_file_count"):
        files = ", ".join(f"{p}: read {v['read']}, accounted {v['accounted']}"
                          for p, v in list(cons.get("mismatched_files", {}).items())[:3])
        raise ConservationError(
            f"documents lost or duplicated: read {stats['read']} != kept+malformed+dropped {total}"
            + (f"; {cons['mismatched_file_count']} file(s) disagree, e.g. {files}" if files else ""))


def write_json(obj: dict, path: str) -> None:
    """stats.json (every writer of it comes here), replaced atomically: a reader sees the
    previous file or this one, never a torn one."""
    from .storage import replace_file

    replace_file(path, json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8"))


def read_json(path: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))
