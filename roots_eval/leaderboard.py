"""Leaderboard from any set of results files: leaderboard.md and a static, sortable index.html,
with a lineage page per row (lineage/) and a model card per checkpoint row (cards/)."""
from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path

from pipelines.files import atomic_write
from roots_eval.results import ResultsError, load_results

CATEGORY_ORDER = {"classification": 0, "translation": 1, "qa": 2, "summarization": 3, "language_modeling": 4}
# bits per byte (lower is better) would pull an average of 0-100 scores the wrong way
NOT_AVERAGED = ("language_modeling",)


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
                                    "metric": entry["primary_metric"], "version": entry["version"],
                                    "num_fewshot": entry.get("num_fewshot")})
    return sorted(tasks.values(), key=lambda t: (CATEGORY_ORDER.get(t["category"], 9), t["name"]))


# -- comparability ---------------------------------------------------------------------------
# Two results are comparable when they scored the same rows the same way: the same --limit and
# generation cap, and, for every task both have, the same task version, few-shot count and
# source, and dataset file. Rows that are not are kept in separate tables.
def run_settings(data) -> dict:
    config = data.get("config") or {}
    return {"limit": config.get("limit"), "max_new_tokens": config.get("max_new_tokens")}


def task_settings(entry) -> dict:
    fewshot = entry.get("fewshot") or {}
    return {"version": entry.get("version"), "num_fewshot": entry.get("num_fewshot"),
            "fewshot_source": fewshot.get("source"), "dataset": (entry.get("dataset") or {}).get("hash")}


def comparable(a: dict, b: dict) -> bool:
    if run_settings(a) != run_settings(b):
        return False
    shared = set(a["results"]) & set(b["results"])
    return all(task_settings(a["results"][t]) == task_settings(b["results"][t]) for t in shared)


def group_rows(rows) -> list[list[dict]]:
    """Rows in groups of mutually comparable results, in input order (first fit)."""
    groups: list[list[dict]] = []
    for row in rows:
        for group in groups:
            if all(comparable(row["data"], other["data"]) for other in group):
                group.append(row)
                break
        else:
            groups.append([row])
    return groups


def describe(group, columns) -> str:
    """The settings a group's rows share, in words."""
    settings = run_settings(group[0]["data"])
    parts = [f"limit {settings['limit'] if settings['limit'] is not None else 'none (every row)'}"]
    if settings["max_new_tokens"] is not None:
        parts.append(f"max new tokens {settings['max_new_tokens']}")
    tasks = []
    for c in columns:
        entry = next(r["data"]["results"][c["name"]] for r in group if c["name"] in r["data"]["results"])
        tasks.append(f"{c['name']} v{entry['version']} {entry.get('num_fewshot', 0)}-shot")
    return "; ".join(parts) + (" — " + ", ".join(tasks) if tasks else "")


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def common_tasks(rows, columns) -> list[str]:
    """The tasks every row was scored on: averages cover these only, so a model is never ranked
    up or down by the tasks it skipped."""
    return [c["name"] for c in columns if c["category"] not in NOT_AVERAGED
            and all(c["name"] in r["data"]["results"] and c["metric"] in r["data"]["results"][c["name"]]["metrics"]
                   for r in rows)]


def summarise(rows, columns) -> list[dict]:
    languages = sorted({c["language"] for c in columns})
    common = set(common_tasks(rows, columns))
    averaged = [c for c in columns if c["name"] in common]
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
            "average": _mean(value(c["name"]) for c in averaged),
            "by_language": {lang: _mean(value(c["name"]) for c in averaged if c["language"] == lang) for lang in languages},
            "tasks_scored": len(scores),
        })
    return out


def build_groups(rows) -> list[dict]:
    groups = []
    for members in group_rows(rows):
        columns = task_columns(members)
        groups.append({"columns": columns, "languages": sorted({c["language"] for c in columns}),
                       "common": common_tasks(members, columns), "summary": summarise(members, columns),
                       "settings": run_settings(members[0]["data"]), "description": describe(members, columns)})
    return groups


def ranked(summary) -> list[dict]:
    return sorted(summary, key=lambda r: -(r["average"] if r["average"] is not None else float("-inf")))


def _fmt(value, digits=2):
    return "—" if value is None else f"{value:.{digits}f}"


def _header_name(c, common) -> str:
    # a task some models lack is shown but left out of the averages (marked with *)
    if c["category"] in NOT_AVERAGED:
        return f"{c['name']} ({c['metric']}, lower is better; not averaged)"
    return f"{c['name']} ({c['metric']})" + ("" if c["name"] in common else " *")


def _markdown_table(group) -> list[str]:
    columns, languages, common = group["columns"], group["languages"], set(group["common"])
    head = ["Model", "Average", *[f"Avg {lang}" for lang in languages], *[_header_name(c, common) for c in columns]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in ranked(group["summary"]):
        cells = [s["model"]["id"], _fmt(s["average"]), *[_fmt(s["by_language"][lang]) for lang in languages]]
        for c in columns:
            v = s["scores"].get(c["name"])
            cells.append("—" if v is None else f"{v[0]:.2f}" + (f" ± {v[1]:.2f}" if v[1] is not None else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(groups) -> str:
    models = sum(len(g["summary"]) for g in groups)
    lines = ["# ROOTS leaderboard", "",
             f"{models} model(s) in {len(groups)} group(s) of comparable results. Scores are 0–100; ± is the "
             "bootstrap standard error. Averages are over the tasks every model of the group was scored on; "
             "a task marked * is missing for some model and not averaged. Results with a different --limit, "
             "generation cap, task version, few-shot setting or dataset file are in separate groups.", ""]
    for k, group in enumerate(groups, 1):
        if len(groups) > 1:
            lines += [f"## Group {k}", ""]
        lines += [f"Settings: {group['description']}.", ""]
        lines += _markdown_table(group) + [""]
    lines += ["## Models", "", "| Model | Group | Type | Parameters | Checkpoint | Dtype | Device | Tasks | Limit | Created | Commit "
              "| Lineage |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, group in enumerate(groups, 1):
        for s in group["summary"]:
            m, d = s["model"], s["row"]["data"]
            lines.append(f"| {m['id']} | {k} | {m.get('type', '')} | {m.get('parameters', '')} | "
                         f"`{str(m.get('checkpoint_hash', ''))[:19]}` | {m.get('dtype', '')} | {m.get('device', '')} "
                         f"| {s['tasks_scored']} | {d['config'].get('limit')} | {d.get('created', '')} "
                         f"| {str(d.get('git_commit') or '')[:10]} | "
                         + (f"[page]({s['lineage']})" if s.get("lineage") else "") + " |")
    return "\n".join(lines) + "\n"


_SCRIPT = """
Array.prototype.forEach.call(document.querySelectorAll('table.leaderboard'), function (table) {
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
});
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


def _html_table(group, table_id: str, out_dir: Path) -> str:
    esc = html.escape
    columns, languages, common = group["columns"], group["languages"], set(group["common"])
    head = ['<th data-key="rank">#</th>', '<th class="model" data-key="model">Model</th>', '<th data-key="average">Average</th>']
    head += [f'<th data-key="avg_{esc(lang)}">Avg {esc(lang)}</th>' for lang in languages]
    head += [f'<th data-key="{esc(c["name"])}" title="{esc(c["category"])}, {esc(c["language"])}, v{c["version"]}'
             f'{"" if c["name"] in common else "; not scored for every model: left out of the averages"}">'
             f'{esc(c["name"])}{"" if c["name"] in common else " *"}<br><small>{esc(c["metric"])}</small></th>'
             for c in columns]
    body = []
    # rows stay in input order here; the page's script ranks them, so a reader without
    # JavaScript still sees every number
    for rank, s in enumerate(group["summary"], 1):
        name = esc(s["model"]["id"])
        if s.get("lineage"):
            name = f'<a href="{esc(s["lineage"])}" title="where this row came from">{name}</a>'
        cells = [f"<td>{rank}</td>", f'<td class="model">{name}</td>',
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
    return (f'<p class="settings">Settings: {esc(group["description"])}.</p>\n'
            f'<table id="{table_id}" class="leaderboard"><thead><tr>{"".join(head)}</tr></thead>\n'
            f'<tbody>\n{chr(10).join(body)}\n</tbody></table>')


def render_html(groups, out_dir: Path) -> str:
    esc = html.escape
    sections = []
    for k, group in enumerate(groups, 1):
        title = f"<h2>Group {k}</h2>\n" if len(groups) > 1 else ""
        sections.append(title + _html_table(group, "leaderboard" if k == 1 else f"leaderboard-{k}", out_dir))
    meta_rows = []
    for k, group in enumerate(groups, 1):
        for s in group["summary"]:
            m, d = s["model"], s["row"]["data"]
            meta_rows.append("<tr>" + "".join(f"<td class=model>{esc(str(x))}</td>" for x in (
                m["id"], k, m.get("type", ""), m.get("parameters", ""), str(m.get("checkpoint_hash", ""))[:19],
                m.get("dtype", ""), m.get("device", ""), s["tasks_scored"], d["config"].get("limit"),
                d.get("created", ""), str(d.get("git_commit") or "")[:10], d.get("roots_eval_version", ""))) + "</tr>")
    models = sum(len(g["summary"]) for g in groups)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ROOTS leaderboard</title><style>{_STYLE}</style></head>
<body>
<h1>ROOTS leaderboard</h1>
<p>{models} model(s) in {len(groups)} group(s) of comparable results (same --limit, generation cap, task versions,
few-shot settings and data). Scores are 0–100 with bootstrap standard errors; averages cover the tasks every model
of a group was scored on (* marks a task left out). Click a header to sort, a score to open its per-sample log,
a model to see its lineage (checkpoint, training data, corpus release).</p>
{chr(10).join(sections)}
<h2>Models</h2>
<table id="models"><thead><tr><th class=model>Model</th><th class=model>Group</th><th class=model>Type</th><th class=model>Parameters</th><th class=model>Checkpoint</th><th class=model>Dtype</th><th class=model>Device</th><th class=model>Tasks</th><th class=model>Limit</th><th class=model>Created</th><th class=model>Commit</th><th class=model>roots-eval</th></tr></thead>
<tbody>{''.join(meta_rows)}</tbody></table>
<script>{_SCRIPT}</script>
</body></html>
"""


def significance_tables(groups, iters: int = 2000) -> list[dict]:
    """Per group and task: each row against the task's best row, paired bootstrap on the
    per-sample logs (roots_eval.significance). A row whose log cannot be read gets none."""
    from roots_eval.significance import compare

    out = []
    for k, group in enumerate(groups, 1):
        for c in group["columns"]:
            scored = [s for s in group["summary"] if c["name"] in s["scores"]]
            if len(scored) < 2:
                continue
            lower = c["category"] in NOT_AVERAGED
            best = sorted(scored, key=lambda s: s["scores"][c["name"]][0] * (-1 if lower else 1))[-1]
            for s in scored:
                if s is best:
                    continue
                a, b = (s, best) if lower else (best, s)  # "a is better than b"
                try:
                    test = compare(a["row"]["path"], b["row"]["path"], c["name"], iters=iters)
                except (OSError, ValueError, KeyError) as exc:
                    test = {"error": str(exc)}
                out.append({"group": k, "task": c["name"], "best": best["model"]["id"], "other": s["model"]["id"], **test})
    return out


def _significance_html(tests) -> str:
    """The same table as the Markdown one, as an HTML table (a browser shows it as a table)."""
    md = _significance_markdown(tests)
    intro, rows = md[2], [line for line in md[4:] if line.startswith("|") and not line.startswith("|---")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in rows]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
    return f"<h2>Significance</h2><p>{html.escape(intro)}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _significance_markdown(tests) -> list[str]:
    if not tests:
        return []
    lines = ["## Significance", "",
             "Paired bootstrap over the per-sample logs (2,000 resamples): is the task's best row better than "
             "each other row? p < 0.05 marked *. For perplexity tasks the per-sample score is bits per byte.", "",
             "| Group | Task | Best | Other | Metric | Δ | p |", "|---|---|---|---|---|---|---|"]
    for t in tests:
        if "error" in t:
            lines.append(f"| {t['group']} | {t['task']} | {t['best']} | {t['other']} | — | — | {t['error'][:60]} |")
            continue
        star = " *" if t["p_value"] < 0.05 else ""
        lines.append(f"| {t['group']} | {t['task']} | {t['best']} | {t['other']} | {t['metric']} | "
                     f"{abs(t['delta']):.2f} | {t['p_value']:.4f}{star} |")
    return lines + [""]


def run_progress(rows) -> dict[str, list[tuple[int, dict]]]:
    """Runs with several evaluated checkpoints: {run folder: [(step, results), ...]} by step.
    A checkpoint of a run lives at RUN/checkpoints/step-NNNNNNNN (roots_model.checkpoint)."""
    runs: dict[str, list] = {}
    for row in rows:
        model = row["data"]["model"]
        path, step = model.get("path"), model.get("step")
        if not path or step is None or Path(path).parent.name != "checkpoints":
            continue
        runs.setdefault(str(Path(path).parent.parent), []).append((int(step), row["data"]))
    return {run: sorted(points, key=lambda p: p[0]) for run, points in runs.items()
            if len({s for s, _ in points}) > 1}


def plot_progress(runs, out_dir: Path) -> list[str]:
    """One chart per run: each task's primary metric against the training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for i, (run, points) in enumerate(sorted(runs.items()), 1):
        tasks = sorted({t for _, d in points for t in d["results"]})
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for task in tasks:
            xs = [(s, d["results"][task]) for s, d in points if task in d["results"]]
            ax.plot([s for s, _ in xs], [e["metrics"][e["primary_metric"]]["value"] for _, e in xs], "o-",
                    label=f"{task} ({xs[0][1]['primary_metric']})")
        ax.set_xlabel("training step")
        ax.set_ylabel("score")
        ax.set_title(f"{Path(run).name}: scores across checkpoints")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
        fig.tight_layout()
        name = f"progress-{i}.png"
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        files.append(name)
    return files


def board_models(groups) -> list[dict]:
    """leaderboard.json's `models`: one entry per row, with the results file it came from (by
    digest) and where its lineage page is (each summary row gets its `entry` and `lineage` link)."""
    from pipelines.storage import file_sha256
    from roots_eval.lineage_page import slugs

    summaries = [(k, s) for k, g in enumerate(groups, 1) for s in g["summary"]]
    entries = []
    for (k, s), slug in zip(summaries, slugs([s["model"]["id"] for _, s in summaries])):
        path = s["row"]["path"].resolve()
        s["lineage"] = f"lineage/{slug}.html"
        s["entry"] = {"id": s["model"]["id"], "group": k, "average": s["average"], "by_language": s["by_language"],
                      "scores": {name: v[0] for name, v in s["scores"].items()},
                      "results": {"path": str(path), "sha256": file_sha256(str(path))},
                      "lineage": s["lineage"], "card": None}
        entries.append(s["entry"])
    return entries


def write_lineage(out_dir: Path, groups) -> None:
    """Per row its lineage page, and per checkpoint (or fine-tuned classifier) on the board one
    model card with the scores of all its rows (roots_eval.lineage_page, roots_eval.model_card).
    Pages and cards of an earlier build of this folder go first: a card left from a row no
    longer here would be taken for current."""
    from roots_eval import lineage_page, model_card

    for old in [*out_dir.glob("lineage/*.html"), *out_dir.glob("cards/*/README.md")]:
        old.unlink()
    (out_dir / "lineage").mkdir(exist_ok=True)
    rows = [(s["entry"], s["row"]["data"], *lineage_page.trace_results(s["row"]["path"]))
            for g in groups for s in g["summary"]]
    models: dict[str, list] = {}
    for row in rows:
        key = model_card.model_key(row[2])
        if key is not None:
            models.setdefault(key, []).append(row)
    for same_model in models.values():
        card = f"cards/{Path(same_model[0][0]['lineage']).stem}/README.md"
        (out_dir / card).parent.mkdir(parents=True, exist_ok=True)
        text = model_card.model_card([(entry, data) for entry, data, _, _ in same_model], same_model[0][2])
        atomic_write(out_dir / card, text)
        for entry, *_ in same_model:
            entry["card"] = card
    for entry, data, links, problem in rows:
        page = lineage_page.render_page(entry, data, links, problem, out_dir / "lineage",
                                        entry["card"] and f"../{entry['card']}")
        atomic_write(out_dir / entry["lineage"], page)


def build_leaderboard(result_paths, output) -> int:
    out_dir = Path(output)
    rows, errors = collect(result_paths)
    for path, message in errors.items():
        print(f"[roots-eval] skipped {message}", file=sys.stderr)
    if not rows:
        print("[roots-eval] no usable results file", file=sys.stderr)
        return 2
    groups = build_groups(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = board_models(groups)
    write_lineage(out_dir, groups)
    tests = significance_tables(groups)
    charts = plot_progress(run_progress(rows), out_dir)
    extra_md = _significance_markdown(tests) + [line for c in charts for line in (f"![scores across checkpoints]({c})", "")]
    atomic_write(out_dir / "leaderboard.md", render_markdown(groups) + "\n" + "\n".join(extra_md))
    page = render_html(groups, out_dir)
    if tests or charts:
        extra = "".join(f'<h2>Scores across checkpoints</h2><img src="{html.escape(c)}" alt="scores vs step">' for c in charts)
        if tests:
            extra += _significance_html(tests)
        page = page.replace("<h2>Models</h2>", extra + "\n<h2>Models</h2>", 1)
    atomic_write(out_dir / "index.html", page)
    atomic_write(out_dir / "leaderboard.json", json.dumps({
        "groups": [{"settings": g["settings"], "description": g["description"], "tasks": g["columns"],
                    "averaged_tasks": g["common"], "models": [s["model"]["id"] for s in g["summary"]]} for g in groups],
        "models": models,
        "significance": tests,
        "progress_charts": charts,
        "skipped": errors,
    }, indent=2, ensure_ascii=False))
    print(f"[roots-eval] leaderboard of {len(rows)} model(s) in {len(groups)} group(s) written to {out_dir}", file=sys.stderr)
    return 1 if errors else 0
