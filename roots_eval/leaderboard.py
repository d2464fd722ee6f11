"""Leaderboard from any set of results files: leaderboard.md and a static, sortable index.html."""
from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path

from roots_eval.results import ResultsError, load_results

CATEGORY_ORDER = {"classification": 0, "translation": 1, "qa": 2, "summarization": 3}


def collect(paths) -> tuple[list[dict], dict[str, str]]:
    """(rows, errors): one row per readable results file; unreadable files are reported, not fatal."""
    rows, errors = [], {}
    for path in paths:
        try:
            data = load_results(path)
        except ResultsError as exc:
            errors[str(path)] = str(exc)
            continue
        rows.append({"path": Path(path), "data": data})
    return rows, errors


def task_columns(rows) -> list[dict]:
    tasks = {}
    for row in rows:
        for name, entry in row["data"]["results"].items():
            tasks.setdefault(name, {"name": name, "language": entry["language"], "category": entry["category"],
                                    "metric": entry["primary_metric"], "version": entry["version"]})
    return sorted(tasks.values(), key=lambda t: (CATEGORY_ORDER.get(t["category"], 9), t["name"]))


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarise(rows, columns) -> list[dict]:
    languages = sorted({c["language"] for c in columns})
    out = []
    for row in rows:
        data = row["data"]
        scores = {}
        for c in columns:
            entry = data["results"].get(c["name"])
            if entry and c["metric"] in entry["metrics"]:
                m = entry["metrics"][c["metric"]]
                scores[c["name"]] = (m["value"], m.get("stderr"), entry.get("samples_file"))
        value = lambda name: scores[name][0] if name in scores else None  # noqa: E731
        out.append({
            "row": row,
            "model": data["model"],
            "scores": scores,
            "average": _mean(value(c["name"]) for c in columns),
            "by_language": {lang: _mean(value(c["name"]) for c in columns if c["language"] == lang) for lang in languages},
            "tasks_scored": len(scores),
        })
    return out


def ranked(summary) -> list[dict]:
    return sorted(summary, key=lambda r: -(r["average"] if r["average"] is not None else float("-inf")))


def _fmt(value, digits=2):
    return "—" if value is None else f"{value:.{digits}f}"


def render_markdown(summary, columns, languages) -> str:
    head = ["Model", "Average", *[f"Avg {lang}" for lang in languages], *[f"{c['name']} ({c['metric']})" for c in columns]]
    lines = ["# ROOTS leaderboard", "",
             f"{len(summary)} model(s), {len(columns)} task(s). Scores are 0–100; ± is the bootstrap standard error. "
             "Averages are over the tasks a model was scored on.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in ranked(summary):
        cells = [s["model"]["id"], _fmt(s["average"]), *[_fmt(s["by_language"][lang]) for lang in languages]]
        for c in columns:
            v = s["scores"].get(c["name"])
            cells.append("—" if v is None else f"{v[0]:.2f}" + (f" ± {v[1]:.2f}" if v[1] is not None else ""))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Models", "", "| Model | Type | Parameters | Checkpoint | Tasks | Limit | Created | Commit |",
              "|---|---|---|---|---|---|---|---|"]
    for s in summary:
        m, d = s["model"], s["row"]["data"]
        lines.append(f"| {m['id']} | {m.get('type', '')} | {m.get('parameters', '')} | `{str(m.get('checkpoint_hash', ''))[:19]}` "
                     f"| {s['tasks_scored']} | {d['config'].get('limit')} | {d.get('created', '')} | {str(d.get('git_commit') or '')[:10]} |")
    return "\n".join(lines) + "\n"


_SCRIPT = """
(function () {
  var table = document.getElementById('leaderboard');
  var body = table.tBodies[0];
  function key(row, col) {
    var v = row.cells[col].getAttribute('data-value');
    if (v === null) return row.cells[col].textContent.trim().toLowerCase();
    return v === '' ? -Infinity : parseFloat(v);
  }
  function sortBy(col, descending) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col), y = key(b, col);
      if (x === y) return 0;
      return (x < y ? -1 : 1) * (descending ? -1 : 1);
    });
    rows.forEach(function (r, i) { body.appendChild(r); r.cells[0].textContent = String(i + 1); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute('aria-sort', i === col ? (descending ? 'descending' : 'ascending') : 'none');
    });
    table.setAttribute('data-sorted-by', table.tHead.rows[0].cells[col].getAttribute('data-key') + (descending ? ':desc' : ':asc'));
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
    if (i === 0) return;
    th.addEventListener('click', function () { sortBy(i, th.getAttribute('aria-sort') !== 'descending'); });
  });
  sortBy(2, true);
})();
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
td.model, th.model { text-align: left; }
th[aria-sort=descending]::after { content: " ▼"; } th[aria-sort=ascending]::after { content: " ▲"; }
.se { color: #888; font-size: 0.85em; }
"""


def render_html(summary, columns, languages, out_dir: Path) -> str:
    esc = html.escape
    head = ['<th data-key="rank">#</th>', '<th class="model" data-key="model">Model</th>', '<th data-key="average">Average</th>']
    head += [f'<th data-key="avg_{esc(lang)}">Avg {esc(lang)}</th>' for lang in languages]
    head += [f'<th data-key="{esc(c["name"])}" title="{esc(c["category"])}, {esc(c["language"])}, v{c["version"]}">'
             f'{esc(c["name"])}<br><small>{esc(c["metric"])}</small></th>' for c in columns]
    body = []
    # rows stay in input order here; the page's script ranks them, so a reader without
    # JavaScript still sees every number
    for rank, s in enumerate(summary, 1):
        cells = [f"<td>{rank}</td>", f'<td class="model">{esc(s["model"]["id"])}</td>',
                 f'<td data-value="{"" if s["average"] is None else repr(s["average"])}">{_fmt(s["average"])}</td>']
        for lang in languages:
            v = s["by_language"][lang]
            cells.append(f'<td data-value="{"" if v is None else repr(v)}">{_fmt(v)}</td>')
        for c in columns:
            v = s["scores"].get(c["name"])
            if v is None:
                cells.append('<td data-value="">—</td>')
                continue
            text = f"{v[0]:.2f}"
            if v[2]:
                target = os.path.relpath(s["row"]["path"].resolve().parent / v[2], out_dir.resolve())
                text = f'<a href="{esc(Path(target).as_posix())}" title="per-sample log">{text}</a>'
            se = f' <span class="se">± {v[1]:.2f}</span>' if v[1] is not None else ""
            cells.append(f'<td data-value="{v[0]!r}">{text}{se}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    meta_rows = []
    for s in summary:
        m, d = s["model"], s["row"]["data"]
        meta_rows.append("<tr>" + "".join(f"<td class=model>{esc(str(x))}</td>" for x in (
            m["id"], m.get("type", ""), m.get("parameters", ""), str(m.get("checkpoint_hash", ""))[:19],
            s["tasks_scored"], d["config"].get("limit"), d.get("created", ""), str(d.get("git_commit") or "")[:10],
            d.get("roots_eval_version", ""))) + "</tr>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ROOTS leaderboard</title><style>{_STYLE}</style></head>
<body>
<h1>ROOTS leaderboard</h1>
<p>{len(summary)} model(s), {len(columns)} task(s). Scores are 0–100 with bootstrap standard errors; click a header to sort, a score to open its per-sample log.</p>
<table id="leaderboard"><thead><tr>{''.join(head)}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table>
<h2>Models</h2>
<table id="models"><thead><tr><th class=model>Model</th><th class=model>Type</th><th class=model>Parameters</th><th class=model>Checkpoint</th><th class=model>Tasks</th><th class=model>Limit</th><th class=model>Created</th><th class=model>Commit</th><th class=model>roots-eval</th></tr></thead>
<tbody>{''.join(meta_rows)}</tbody></table>
<script>{_SCRIPT}</script>
</body></html>
"""


def build_leaderboard(result_paths, output) -> int:
    out_dir = Path(output)
    rows, errors = collect(result_paths)
    for path, message in errors.items():
        print(f"[roots-eval] skipped {message}", file=sys.stderr)
    if not rows:
        print("[roots-eval] no usable results file", file=sys.stderr)
        return 2
    columns = task_columns(rows)
    languages = sorted({c["language"] for c in columns})
    summary = summarise(rows, columns)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "leaderboard.md").write_text(render_markdown(summary, columns, languages), encoding="utf-8")
    (out_dir / "index.html").write_text(render_html(summary, columns, languages, out_dir), encoding="utf-8")
    (out_dir / "leaderboard.json").write_text(json.dumps({
        "tasks": columns,
        "models": [{"id": s["model"]["id"], "average": s["average"], "by_language": s["by_language"],
                    "scores": {k: v[0] for k, v in s["scores"].items()}} for s in summary],
        "skipped": errors,
    }, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"[roots-eval] leaderboard of {len(rows)} model(s) written to {out_dir}", file=sys.stderr)
    return 1 if errors else 0
