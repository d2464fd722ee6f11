"""Run statistics in the job: every record becomes one event (kept, dropped with a reason,
or malformed), folded per bundle and then by one CombineFn into the run's RunStats
(pipelines/run_stats.py), so the counts hold on any runner without relying on metric queries;
written once to stats.json (`write_json`). Drawing stats.json (funnel.html, funnel.png) is
pipelines/stats_render.py.
"""
from __future__ import annotations

import json

import apache_beam as beam

from . import storage
from .run_stats import Event, RunStats, WebEvent
from .storage import read_json  # noqa: F401 - stats.json's reader, beside its writer

RUN_STATS = "_run_stats.json"  # a job's RunStats for the launcher that writes stats.json (`hand_over`)


class ConservationError(AssertionError):
    """Documents were lost or counted twice: the independent read count disagrees."""


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
    """Events -> their RunStats."""

    def create_accumulator(self):
        return RunStats()

    def add_input(self, acc: RunStats, event: Event):
        acc.add(event)
        return acc

    def merge_accumulators(self, accs):
        # Into the first (Beam lets a merge change only that one): no copy per accumulator.
        accs = iter(accs)
        out = next(accs, None) or RunStats()
        for acc in accs:
            out += acc
        return out

    def extract_output(self, acc):
        return acc


class BundleStats(beam.DoFn):
    """Records -> one RunStats per bundle of their events (`event(record)`).

    The events are folded in the stage that makes them. A Flatten of the per-document event
    streams would send every event through the runner into a stage of its own (Beam's local
    runner materializes a multi-input Flatten), and Beam lifts a combine into the producing
    stage only where the combine follows it directly; this is that lifting done by hand, so
    only a few accumulators leave the stage."""

    def __init__(self, event):
        self.event = event

    def start_bundle(self):
        self.acc = None

    def process(self, record):
        if self.acc is None:
            self.acc = RunStats()
        self.acc.add(self.event(record))

    def finish_bundle(self):
        if self.acc is not None:
            # Batch pipelines only (a local or Dataflow batch job): the global window.
            yield beam.transforms.window.GlobalWindows.windowed_value_at_end_of_window(self.acc)


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
    """stats.json (every writer of it comes here, once per run), replaced atomically: a reader
    sees the previous file or this one, never a torn one."""
    storage.replace_file(path, json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8"))


def hand_over(stats: RunStats, output: str) -> None:
    """A job's RunStats, left in its output folder for the launcher that waits for the job and
    writes stats.json itself (RunSpec.write_stats): `take_over` reads it back."""
    storage.replace_file(storage.join(output, RUN_STATS), stats.to_json().encode("utf-8"))


def take_over(output: str) -> RunStats:
    """The RunStats a job left in `output` (`hand_over`); the file goes."""
    path = storage.join(output, RUN_STATS)
    stats = RunStats.from_json(storage.read_bytes(path).decode("utf-8"))
    storage.delete_folder(path)  # (deletes a file of that name too)
    return stats

