"""One HTML page per leaderboard row: where its scores came from.

The row's chain (roots_eval.lineage.trace: results -> checkpoint -> token shards -> tokenizer
-> corpus release -> config + inputs) as a table of paths and digests, then what each link
says: the task data digests, the checkpoint's digest, step, training config and loss curve,
the token shards, and the corpus release's funnel, per-language and per-source counts, dedup
and PII counts, config and inputs. The details are what the trace read from the files the
links name (local or gs://), plus the release's stats.json and the run's metrics.jsonl;
`roots-eval lineage --verify` rechecks the digests. A row that cannot be traced all the way
(a baseline, a Hugging Face model, a checkpoint from before lineage was recorded, a release
that is gone) gets a page that says what is missing.
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

from pipelines import storage
from pipelines.files import read_jsonl

# the links a fully traced row has (roots_eval.lineage.KINDS less the leaderboard row itself
# and the optional fine-tuned classifier), and why each can be absent
EXPECTED = ("results", "task-data", "checkpoint", "tokens", "tokenizer", "corpus-release", "config", "input")
_ABSENT = {
    "checkpoint": "the model is not a roots_model checkpoint (a baseline or a Hugging Face model has no "
                  "recorded training data)",
    "tokens": "the checkpoint's state.json names no token shards (trained before lineage was recorded?)",
    "tokenizer": "the token manifest names no tokenizer file",
    "corpus-release": "the token shards name no corpus release (prepared from documents outside a release)",
}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin-bottom: 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; } code { font-size: 0.85em; word-break: break-all; }
.missing { background: #fff4e5; border-left: 4px solid #dd8452; padding: 0.5em 1em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


def slugs(model_ids: list[str]) -> list[str]:
    """A file name per row, unique on the board (two runs' checkpoints share names such as
    step-00000040)."""
    out, taken = [], set()
    for model_id in model_ids:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-.") or "model"
        slug, k = base, 1
        while slug in taken:
            k += 1
            slug = f"{base}-{k}"
        taken.add(slug)
        out.append(slug)
    return out


def trace_results(results_path) -> tuple[list, str | None]:
    """(links, None), or ([], why) when the row's chain cannot be followed at all."""
    from roots_eval.lineage import LineageError, trace

    try:
        return trace(str(results_path)), None
    except LineageError as exc:
        return [], str(exc)


def first(links, kind):
    return next((link for link in links if link.kind == kind), None)


def readable_checkpoint(links):
    """The chain's checkpoint link when its state.json could be read (a model card needs it)."""
    ckpt = first(links, "checkpoint")
    return ckpt if ckpt is not None and ckpt.data["state"] else None


def digest(link, entry: dict) -> str:
    """The digest a link's parent recorded; the traced results file has no parent but the
    leaderboard row, which records it."""
    if link.digest is None and link.kind == "results":
        return "sha256:" + entry["results"]["sha256"]
    return link.digest or "—"


def read_json(path: str) -> dict | None:
    """A JSON file, local or remote; None when it is not there."""
    return storage.read_json(path) if storage.exists(path) else None


def release_stats(link) -> dict | None:
    """stats.json beside a corpus release's manifest (None when the release has none)."""
    return read_json(link.data["stats"])


def _metrics(ckpt_path: str, step: int | None) -> list[dict]:
    """The run's logged steps up to the checkpoint's (RUN/checkpoints/step-N -> RUN/metrics.jsonl)."""
    path = Path(ckpt_path).parent.parent / "metrics.jsonl"
    if Path(ckpt_path).parent.name != "checkpoints" or not path.is_file():
        return []
    rows = list(read_jsonl(path))
    return [r for r in rows if step is None or r["step"] <= step]


# -- rendering -------------------------------------------------------------------------------
def _e(value) -> str:
    return html.escape(str(value))


def _num(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}" if isinstance(value, float) else _e(value)


def _table(table_id: str, head: list[str], rows: list[list], numeric=()) -> str:
    cells = ("".join(f'<td class="n">{_num(v)}</td>' if k in numeric else f"<td>{v}</td>" for k, v in enumerate(row))
             for row in rows)
    return (f'<table id="{table_id}"><thead><tr>{"".join(f"<th>{_e(h)}</th>" for h in head)}</tr></thead>'
            f'<tbody>{"".join(f"<tr>{c}</tr>" for c in cells)}</tbody></table>')


def _code(value) -> str:
    return f"<code>{_e(value)}</code>"


def _href(target: str, page_dir: Path) -> str | None:
    """A link from the page to a local file; None for remote files (shown as text)."""
    if storage.is_remote(target):
        return None
    return Path(os.path.relpath(Path(target).resolve(), page_dir.resolve())).as_posix()


def _link(target: str, text: str, page_dir: Path) -> str:
    href = _href(target, page_dir)
    return f'<a href="{_e(href)}">{_e(text)}</a>' if href else f"{_e(text)} ({_code(target)})"


def curve_svg(points: list[dict]) -> str:
    """Training (and validation) loss against step as an inline SVG: no plotting library, and
    the drawn values stay in the page (data-values) for whoever checks them."""
    if not points:
        return "<p>No metrics.jsonl beside the checkpoint's run: no training curve.</p>"
    width, height, left, bottom, top = 640, 260, 56, 30, 12
    steps = [p["step"] for p in points]
    losses = [p["loss"] for p in points] + [p["val_loss"] for p in points if p.get("val_loss") is not None]
    x0, x1, y0, y1 = min(steps), max(steps), min(losses), max(losses)

    def xy(step, loss) -> tuple[float, float]:
        return (left + (width - left - 10) * ((step - x0) / (x1 - x0) if x1 > x0 else 0.5),
                top + (height - top - bottom) * ((y1 - loss) / (y1 - y0) if y1 > y0 else 0.5))

    series = []
    for name, key, colour in (("train", "loss", "#4c72b0"), ("validation", "val_loss", "#dd8452")):
        pts = [p for p in points if p.get(key) is not None]
        if not pts:
            continue
        xys = [xy(p["step"], p[key]) for p in pts]
        # validation is logged rarely: dots, so a single point still shows
        marks = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in xys) \
            if key == "val_loss" else ""
        series.append(f'<polyline class="curve" data-series="{name}" data-steps="{",".join(str(p["step"]) for p in pts)}" '
                      f'data-values="{",".join(repr(float(p[key])) for p in pts)}" fill="none" stroke="{colour}" '
                      f'stroke-width="1.5" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in xys)}"/>{marks}')
    axes = (f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#888"/>'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#888"/>'
            f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">{y1:.3g}</text>'
            f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end">{y0:.3g}</text>'
            f'<text x="{left}" y="{height - 10}">step {x0}</text>'
            f'<text x="{width - 10}" y="{height - 10}" text-anchor="end">step {x1}</text>'
            f'<text x="{left + 8}" y="{top + 10}" fill="#4c72b0">train loss</text>'
            f'<text x="{left + 90}" y="{top + 10}" fill="#dd8452">validation loss</text>')
    last = points[-1]
    val = [p for p in points if p.get("val_loss") is not None]
    caption = (f"{len(points)} logged steps up to step {last['step']}; train loss {last['loss']:.4f} at the last"
               + (f", validation loss {val[-1]['val_loss']:.4f} at step {val[-1]['step']}" if val else ""))
    return (f'<svg id="training-curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-size="11">{axes}{"".join(series)}</svg><p>{_e(caption)} (loss in nats per token).</p>')


def _results_section(entry: dict, data: dict, links) -> str:
    rows = []
    for link in links:
        if link.kind == "task-data":
            ds = link.data["dataset"]
            rows.append([_e(link.path), _e(ds.get("name", "")), _code(ds.get("file", "")), ds.get("rows", ""),
                         f'<code class="task-digest" data-task="{_e(link.path)}">{_e(link.digest)}</code>'])
    return (f'<h2 id="results">Results</h2><p>File {_code(entry["results"]["path"])}, sha256 '
            f'<code id="results-digest">{_e(entry["results"]["sha256"])}</code>; written {_e(data.get("created", ""))} '
            f'by roots-eval {_e(data.get("roots_eval_version", ""))}, commit {_code(data.get("git_commit") or "none")}.</p>'
            "<h3>Task data</h3>" + _table("task-data", ["task", "dataset", "file", "rows", "data digest"], rows, (3,)))


def _checkpoint_section(link, classifier) -> str:
    state = link.data["state"]
    step = state.get("step")
    config = state.get("train_config") or {}
    rows = [[_e(k), _code(json.dumps(v))] for k, v in config.items()]
    tuned = (f'<p id="classifier">A text classifier fine-tuned from this checkpoint: {_code(classifier.path)}, '
             f'digest {_code(classifier.digest)}.</p>' if classifier is not None else "")
    return (f'<h2 id="checkpoint">Checkpoint</h2>{tuned}<p>{_code(link.path)}<br>digest '
            f'<code id="checkpoint-digest">{_e(link.digest)}</code>, step <span id="checkpoint-step">{_e(step)}</span>'
            f', trained on {_e(state.get("world_size", "?"))} process(es).</p>'
            "<h3>Training curve</h3>" + curve_svg(_metrics(link.path, step))
            + "<h3>Training config</h3>" + (_table("train-config", ["setting", "value"], rows) if rows
                                             else "<p>state.json records no training config.</p>"))


def _tokens_section(links) -> str:
    tokens, tokenizer = first(links, "tokens"), first(links, "tokenizer")
    out = ""
    if tokens:
        files = tokens.data["manifest"].get("files", {})
        totals = {split: (sum(f["shards"][split]["tokens"] for f in files.values()),
                          sum(f["shards"][split]["documents"] for f in files.values())) for split in ("train", "val")}
        out += (f'<h2 id="tokens">Token shards</h2><p>Manifest {_code(tokens.path)}, digest {_code(tokens.digest)}: '
                f'{len(files)} source file(s), {totals["train"][0]:,} training tokens ({totals["train"][1]:,} documents), '
                f'{totals["val"][0]:,} validation tokens ({totals["val"][1]:,} documents).</p>')
    if tokenizer:
        out += f"<p>Tokenizer {_code(tokenizer.path)}, digest {_code(tokenizer.digest)}.</p>"
    return out


def _release_section(links, page_dir: Path) -> str:
    link = first(links, "corpus-release")
    folder, manifest = link.data["folder"], link.data["manifest"]
    stats = release_stats(link)
    code = manifest.get("code") or {}
    out = (f'<h2 id="corpus-release">Corpus release</h2><p>{_code(folder)}'
           + (f' ({_e(manifest["name"])})' if manifest.get("name") else "")
           + f', manifest digest {_code(link.digest)}, made {_e(manifest.get("created", "?"))} by '
           f'roots {_e(code.get("version", "?"))} (commit {_code(code.get("git_commit") or "none")}). '
           # only files the release lists: one made before dataset cards has no README.md
           + ", ".join(_link(storage.join(folder, name), text, page_dir)
                       for name, text in (("funnel.html", "Funnel chart"), ("README.md", "dataset card"))
                       if name in manifest.get("files", {})) + "</p>")
    if stats is None:
        return out + '<p class="missing">The release has no stats.json: no counts to show.</p>'
    pii = stats.get("pii_redacted") or {}
    dedup = {r: n for r, n in stats["dropped"].items() if r.startswith("duplicate_")}
    out += (f'<p id="release-totals">{stats["kept"]:,} of {stats["read"]:,} documents kept. Duplicates dropped: '
            + (", ".join(f"{r} {n:,}" for r, n in dedup.items()) or "none") + "; PII redacted: "
            + (", ".join(f"{k} {n:,}" for k, n in pii.items()) or "none") + ".</p>")
    out += "<h3>Filter funnel</h3>" + _table("funnel", ["stage", "removed", "remaining"],
                                             [[_e(r["stage"]), r.get("removed", ""), r["remaining"]]
                                              for r in stats["funnel"]], (1, 2))
    out += "<h3>Per language</h3>" + _table(
        "languages", ["language", "read", "kept", "dropped", "kept bytes"],
        [[_e(lang), r["read"], r["kept"], r["dropped"], r["kept_bytes"]] for lang, r in stats["languages"].items()],
        (1, 2, 3, 4))
    out += "<h3>Per source</h3>" + _table(
        "sources", ["source", "read", "kept", "dropped"],
        [[_e(src), r["read"], r["kept"], sum(r["dropped"].values())] for src, r in stats.get("sources", {}).items()],
        (1, 2, 3))
    config = first(links, "config")
    if config is not None:
        out += (f'<h3>Pipeline config</h3><p>{_code(config.digest)}'
                + (f", from {_code(config.data['source'])}" if config.data.get("source") else ", the defaults")
                + f'.</p><pre id="pipeline-config">{_e(config.data["text"])}</pre>')
    inputs = [link for link in links if link.kind == "input"]
    out += "<h3>Inputs</h3>" + _table("inputs", ["path", "bytes", "fingerprint"],
                                      [[_code(i.path), i.data.get("bytes", ""), _code(i.digest)] for i in inputs], (1,))
    return out


def _missing(links, problem: str | None) -> str:
    present = {link.kind for link in links}
    absent = [k for k in EXPECTED if k not in present]
    if not absent and problem is None:
        return ""
    ckpt = first(links, "checkpoint")
    if problem is None and ckpt is not None and not ckpt.data["state"]:
        problem = f"{ckpt.path} has no state.json (the checkpoint moved or was deleted?)"
    why = problem or next((_ABSENT[k] for k in absent if k in _ABSENT), f"no {absent[0]} recorded")
    return (f'<p class="missing" id="missing">Lineage incomplete: {_e(why)}. Not traced: '
            f'{_e(", ".join(absent))}.</p>')


def render_page(entry: dict, data: dict, links: list, problem: str | None, page_dir: Path, card: str | None) -> str:
    """The lineage page of one leaderboard row. `entry`: its leaderboard.json model entry;
    `data`: its results; `links`: its traced chain; `problem`: why it could not be traced."""
    scores = [[_e(task), f'<span class="score" data-task="{_e(task)}">{value:.2f}</span>']
              for task, value in entry["scores"].items()]
    chain = [[_e(link.kind), _code(link.path), f'<code class="digest">{_e(digest(link, entry))}</code>']
             for link in links]
    body = ['<p><a href="../index.html">Leaderboard</a>'
            + (f' · <a href="{_e(card)}">model card</a>' if card else "") + "</p>",
            f"<h1>Lineage: {_e(entry['id'])}</h1>", _missing(links, problem),
            "<h2>Scores</h2>", _table("scores", ["task", "score"], scores),
            f"<p>Average {entry['average']:.2f} (group {entry['group']}).</p>" if entry.get("average") is not None else "",
            "<h2>Chain</h2>", _table("chain", ["kind", "path", "digest"], chain) if chain else "<p>No link traced.</p>",
            "<p>Digests as recorded along the chain; <code>roots-eval lineage RESULTS --verify</code> recomputes them.</p>",
            _results_section(entry, data, links)]
    if (ckpt := first(links, "checkpoint")) is not None:
        body.append(_checkpoint_section(ckpt, first(links, "classifier")))
    body.append(_tokens_section(links))
    if first(links, "corpus-release") is not None:
        body.append(_release_section(links, page_dir))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Lineage: {_e(entry["id"])}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(b for b in body if b) + "\n</body></html>\n")
