"""Run statistics: every record becomes one event (kept, dropped with a reason, or
malformed), and one CombineFn folds the events into stats.json, so the counts hold on any
runner without relying on metric queries. The funnel chart is drawn from stats.json.
"""
from __future__ import annotations

import json

import apache_beam as beam

SCHEMA_VERSION = 1


def kept_event(doc: dict) -> tuple:
    return ("kept", doc.get("lang") or "und", None, doc.get("raw_bytes", 0), len(doc["text"].encode("utf-8", "surrogatepass")))


def dropped_event(doc: dict) -> tuple:
    return ("dropped", doc.get("lang") or "und", doc["reason"], doc.get("raw_bytes", 0), 0)


def malformed_event(record: dict) -> tuple:
    kind = record["error"].split(":")[0].split(" after ")[0]
    return ("malformed", "und", kind, 0, 0)


class StatsCombineFn(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, acc, event):
        key = event[:3]
        count, raw, kept = acc.get(key, (0, 0, 0))
        acc[key] = (count + 1, raw + event[3], kept + event[4])
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for key, (c, r, k) in acc.items():
                oc, orr, ok = out.get(key, (0, 0, 0))
                out[key] = (oc + c, orr + r, ok + k)
        return out

    def extract_output(self, acc):
        return acc


def summarize(acc: dict, reasons_in_order: list[str]) -> dict:
    """The stats.json object from the combined event counts."""
    dropped: dict[str, int] = {}
    malformed_errors: dict[str, int] = {}
    languages: dict[str, dict[str, int]] = {}
    kept = malformed = read_bytes = kept_bytes = 0
    for (kind, lang, reason), (count, raw, cleaned) in acc.items():
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
    read = kept + malformed + sum(dropped.values())
    order = [r for r in reasons_in_order if r in dropped] + sorted(set(dropped) - set(reasons_in_order))
    funnel, remaining = [], read - malformed
    funnel.append({"stage": "read", "remaining": read})
    funnel.append({"stage": "malformed", "removed": malformed, "remaining": remaining})
    for reason in order:
        remaining -= dropped[reason]
        funnel.append({"stage": reason, "removed": dropped[reason], "remaining": remaining})
    return {
        "schema_version": SCHEMA_VERSION,
        "read": read,
        "kept": kept,
        "malformed": malformed,
        "dropped": {r: dropped[r] for r in order},
        "malformed_errors": dict(sorted(malformed_errors.items())),
        "bytes": {"read": read_bytes, "kept": kept_bytes},
        "languages": dict(sorted(languages.items(), key=lambda kv: -kv[1]["read"])),
        "funnel": funnel,
    }


def check_conservation(stats: dict) -> None:
    total = stats["kept"] + stats["malformed"] + sum(stats["dropped"].values())
    if total != stats["read"]:
        raise AssertionError(f"documents lost: read {stats['read']} != kept+malformed+dropped {total}")


def draw_funnel(stats: dict, png_path: str) -> None:
    """Horizontal bars: documents remaining after each stage, with what it removed."""
    # The Figure API with the Agg canvas, not pyplot: no GUI backend lookup, no global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = stats["funnel"]
    labels = [r["stage"] for r in rows]
    remaining = [r["remaining"] for r in rows]
    removed = [r.get("removed", 0) for r in rows]
    fig = Figure(figsize=(9, 0.45 * len(rows) + 1.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = range(len(rows))[::-1]
    ax.barh(list(y), remaining, color="#4c72b0", label="remaining")
    ax.barh(list(y), removed, left=remaining, color="#dd8452", label="removed at this stage")
    for yi, rem, rm in zip(y, remaining, removed):
        ax.text(rem + rm, yi, f" {rem:,}" + (f"  (-{rm:,})" if rm else ""), va="center", fontsize=8)
    ax.set_yticks(list(y), labels)
    ax.set_xlabel("documents")
    ax.set_title(f"ROOTS filter funnel: {stats['kept']:,} of {stats['read']:,} documents kept")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, max(remaining[0], 1) * 1.25)
    fig.tight_layout()
    from apache_beam.io.filesystems import FileSystems
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    with FileSystems.create(png_path) as f:
        f.write(buf.getvalue())


def write_json(obj: dict, path: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path) as f:
        f.write(json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8"))


def read_json(path: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))
