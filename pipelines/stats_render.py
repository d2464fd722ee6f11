"""Drawing a run's stats.json: funnel.html (an inline SVG with the per-source and web tables, no
dependency: every run writes it), funnel.png (matplotlib, whose import would otherwise be paid by
every run: `roots-pipeline stats OUT` draws it) and the summary printed at the end of a run."""
from __future__ import annotations

import sys


def funnel_html(stats: dict) -> str:
    """The funnel as a standalone HTML page: one row per stage, the bar split into documents
    remaining (blue) and removed at that stage (orange), with exact counts as text and tooltips."""
    from html import escape

    rows = stats["funnel"]
    top = max(rows[0]["remaining"], 1)
    label_w, bar_w, row_h, pad = 150, 560, 22, 34
    height = pad + row_h * len(rows) + 10
    parts = []
    for i, r in enumerate(rows):
        y = pad + i * row_h
        rem, rm = r["remaining"], r.get("removed", 0)
        w_rem, w_rm = bar_w * rem / top, bar_w * rm / top
        stage = escape(r["stage"])
        tip = f"{stage}: {rem:,} remaining" + (f", {rm:,} removed" if rm else "")
        parts.append(
            f'<g><title>{tip}</title>'
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{stage}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w_rem:.1f}" height="{row_h - 6}" fill="#4c72b0"/>'
            f'<rect x="{label_w + w_rem:.1f}" y="{y + 3}" width="{w_rm:.1f}" height="{row_h - 6}" fill="#dd8452"/>'
            f'<text x="{label_w + w_rem + w_rm + 4:.1f}" y="{y + 15}">{rem:,}' + (f"  (\u2212{rm:,})" if rm else "")
            + "</text></g>"
        )
    title = escape(f"ROOTS filter funnel: {stats['kept']:,} of {stats['read']:,} documents kept")
    table = _sources_table(stats.get("sources", {}))
    if "web" in stats:
        table += _web_tables(stats["web"])
    legend = (f'<rect x="{label_w}" y="8" width="10" height="10" fill="#4c72b0"/><text x="{label_w + 14}" y="17">remaining</text>'
              f'<rect x="{label_w + 100}" y="8" width="10" height="10" fill="#dd8452"/>'
              f'<text x="{label_w + 114}" y="17">removed at this stage</text>')
    width = label_w + bar_w * 1.25
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f'<body style="font-family:sans-serif"><h3>{title}</h3>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" font-size="12">'
        f'{legend}{"".join(parts)}</svg>\n{table}</body></html>\n'
    )


def _sources_table(sources: dict, title: str = "Per source", column: str = "source") -> str:
    """Per-source (or per-domain) rows under the funnel: what each lost, and to what."""
    from html import escape

    if not sources:
        return ""
    rows = []
    for src, row in sources.items():
        share = row["kept"] / row["read"] if row["read"] else 0.0
        reasons = ", ".join(f"{escape(r)} {n:,}" for r, n in sorted(row["dropped"].items(), key=lambda kv: -kv[1])[:4])
        rows.append(f'<tr><td>{escape(src)}</td><td align="right">{row["read"]:,}</td>'
                    f'<td align="right">{row["kept"]:,}</td><td align="right">{share:.1%}</td><td>{reasons}</td></tr>')
    return (f'<h3>{escape(title)}</h3><table cellpadding="3" style="border-collapse:collapse">'
            f'<tr><th align="left">{escape(column)}</th><th>read</th><th>kept</th><th>kept %</th>'
            '<th align="left">main drop reasons</th></tr>' + "".join(rows) + "</table>\n")


_WEB_DOMAINS_SHOWN = 30


def _web_tables(web: dict) -> str:
    """A crawl's records by WARC type, pages by encoding, and its largest domains."""
    from html import escape

    def counts(table: dict) -> str:
        return ", ".join(f"{escape(str(k))} {v:,}" for k, v in table.items()) or "none"

    domains = dict(list(web["domains"].items())[:_WEB_DOMAINS_SHOWN])
    more = len(web["domains"]) - len(domains)
    return (f"<h3>Web records</h3><p>WARC types: {counts(web['warc_types'])}<br>"
            f"encodings: {counts(web['encodings'])}<br>decided by: {counts(web['encoding_decisions'])}<br>"
            f"site-template lines removed: {web['template_lines_removed']:,}"
            + (f"<br>blocklists: {counts(web['blocklists'])}" if web["blocklists"] else "") + "</p>\n"
            + _sources_table(domains, f"Per domain (the {len(domains)} with most pages"
                             + (f"; {more:,} more in stats.json)" if more else ")"), "domain"))


def write_funnel_html(stats: dict, html_path: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(html_path) as f:
        f.write(funnel_html(stats).encode("utf-8"))


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


def print_summary(stats: dict, output: str, funnel: str) -> None:
    print(f"read {stats['read']:,}  kept {stats['kept']:,}  malformed {stats['malformed']:,}  "
          f"dropped {sum(stats['dropped'].values()):,}", file=sys.stderr)
    for reason, n in stats["dropped"].items():
        print(f"  dropped {reason:20s} {n:>9,}", file=sys.stderr)
    for lang, s in list(stats["languages"].items())[:6]:
        print(f"  {lang:5s} read {s['read']:>8,}  kept {s['kept']:>8,}  kept bytes {s['kept_bytes']:>12,}", file=sys.stderr)
    print(f"outputs: {output}/data/  dropped/  dead_letter/  stats.json  {funnel}", file=sys.stderr)
