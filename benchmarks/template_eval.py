"""How site-template removal (pipelines/web/templates.py) changes extraction quality on real
news pages, per threshold: the evidence for TemplateConfig's defaults.

Data: web_extraction's daniel_zh set (284 Chinese news pages, 2011-12, human reference main
text). The set gives no URLs, so a page's domain is the host its links point to most (as
the pipeline's web.domain, without "www."; --group site: the registered domain, coarser):
chinanews.com, big5.xinhuanet.com, bc.ifeng.com, ... -- 2 to 14 pages a host, far fewer than
a crawl has, so shares under ~3/14 are not tested here (min_pages binds first).

Per extractor (all visible text: the worst case, where templates matter most; resiliparse
main content; trafilatura; the pipeline's `roots` extractor where this checkout has it) and
per (min_pages, min_share): template lines are found per domain over the extracted pages and
removed; reported are the mean bag-of-tokens F1 against the reference (one token = one CJK
character or one lower-case ASCII word), the lines removed, and the reference lines removed
(a removed line that is a reference line, or a long one found inside the reference: the
possible harm; --show-wrong lists them).

    python benchmarks/template_eval.py [--limit N] [--cache FILE.json] [--group host|site]
        [--show-wrong roots:3:0.3]
(~20 s on one core: extraction of 284 pages; --cache keeps the extracted texts.)
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path


from pipelines.datadir import dataset_path
from pipelines.web.templates import (TemplateConfig, normalize_line, remove_template_lines,
                                     template_lines)

_TOKEN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[a-z0-9]+")
_HOST_RE = re.compile(rb"https?://([A-Za-z0-9.-]+)")


def tokens(text: str) -> Counter:
    return Counter(_TOKEN_RE.findall(text.lower()))


def f1(pred: str, ref: str) -> float:
    p, r = tokens(pred), tokens(ref)
    if not p and not r:
        return 1.0
    common = sum((p & r).values())
    if not common:
        return 0.0
    prec, rec = common / sum(p.values()), common / sum(r.values())
    return 2 * prec * rec / (prec + rec)


def site_of(raw: bytes, by: str = "host") -> str | None:
    """The host (without www.) the page's links point to most, as the pipeline's
    web.domain is a host; by="site": the registered domain (news.sina.com.cn and
    sports.sina.com.cn together), a coarser grouping."""
    counts: Counter = Counter()
    for host in _HOST_RE.findall(raw):
        labels = host.decode("ascii").lower().strip(".").split(".")
        if by == "site":
            n = 3 if len(labels) >= 3 and labels[-2] in ("com", "net", "org", "gov") else 2
            labels = labels[-n:]
        elif labels[0] == "www":
            labels = labels[1:]
        counts[".".join(labels)] += 1
    return counts.most_common(1)[0][0] if counts else None


def decode(raw: bytes) -> str:
    try:
        from pipelines.web.decode import decode_html

        text = decode_html(raw, None).text
        if text is not None:
            return text
    except ImportError:
        pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    m = re.search(rb"charset\s*=\s*[\"']?([A-Za-z0-9_-]+)", raw[:4096])
    if m:
        enc = m.group(1).decode("ascii").lower()
        enc = "gb18030" if enc in ("gb2312", "gbk", "x-gbk") else "big5hkscs" if enc == "big5" else enc
        try:
            return raw.decode(enc)
        except (LookupError, UnicodeDecodeError):
            pass
    return raw.decode("gb18030", errors="replace")


def extract_all(pages: list[dict]) -> dict[str, list[str]]:
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    out: dict[str, list[str]] = {"alltext": [], "resiliparse": [], "trafilatura": []}
    try:  # the pipeline's own extractor, where this checkout has it
        from pipelines.web.extract import get_extractor

        roots = get_extractor("roots")
        out["roots"] = []
    except ImportError:
        roots = None
    for page in pages:
        html = page["html"]
        tree = HTMLTree.parse(html)
        out["alltext"].append(extract_plain_text(tree, main_content=False))
        out["resiliparse"].append(extract_plain_text(tree, main_content=True))
        out["trafilatura"].append(trafilatura.extract(html) or "")
        if roots is not None:
            out["roots"].append(roots.extract(html, None).text)
    return out


def evaluate(texts: list[str], pages: list[dict], cfg: TemplateConfig) -> dict:
    by_domain: dict[str, list[int]] = defaultdict(list)
    for i, page in enumerate(pages):
        by_domain[page["domain"]].append(i)
    f1s, removed, wrong, emptied = [], 0, 0, 0
    for idx in by_domain.values():
        hashes = template_lines([texts[i].split("\n") for i in idx], cfg)
        for i in idx:
            new, n = remove_template_lines(texts[i], hashes)
            removed += n
            emptied += bool(n and not new.strip())
            f1s.append(f1(new, pages[i]["reference"]))
            if n:
                wrong += len(wrongly_removed(texts[i], new, pages[i]["reference"]))
    return {"f1": sum(f1s) / len(f1s), "removed": removed, "wrong": wrong, "emptied": emptied}


def wrongly_removed(before: str, after: str, reference: str) -> list[str]:
    """Removed lines that are reference text: equal to a reference line once normalized, or
    (10+ characters) inside the normalized reference."""
    ref_lines = {normalize_line(l) for l in reference.split("\n")} - {""}
    ref_all = normalize_line(reference.replace("\n", " "))
    left = Counter(normalize_line(l) for l in after.split("\n"))
    out = []
    for line in before.split("\n"):
        norm = normalize_line(line)
        if not norm:
            continue
        if left[norm]:
            left[norm] -= 1
            continue
        if norm in ref_lines or (len(norm) >= 10 and norm in ref_all):
            out.append(line.strip())
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--cache", default="")
    ap.add_argument("--group", choices=("host", "site"), default="host", help="what a page's domain is")
    ap.add_argument("--show-wrong", default="", help="extractor:min_pages:min_share: print the wrongly removed lines")
    args = ap.parse_args(argv)

    root = dataset_path("web_extraction")
    pages = []
    with open(root / "pages.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["set"] != "daniel_zh" or not row.get("reference"):
                continue
            raw = gzip.open(root / row["html_path"]).read()
            pages.append({"id": row["id"], "reference": row["reference"], "domain": site_of(raw, args.group) or row["id"],
                          "html": decode(raw)})
            if args.limit and len(pages) >= args.limit:
                break
    cache = Path(args.cache) if args.cache else None
    if cache and cache.exists():
        texts = json.loads(cache.read_text())
    else:
        texts = extract_all(pages)
        if cache:
            cache.write_text(json.dumps(texts, ensure_ascii=False))
    sizes = Counter(p["domain"] for p in pages)
    print(f"{len(pages)} pages, {len(sizes)} domains; pages in domains of >=3 pages: "
          f"{sum(n for n in sizes.values() if n >= 3)}; largest: {sizes.most_common(5)}")

    grid = [(None, None)] + [(mp, ms) for mp in (2, 3, 5) for ms in (0.2, 0.3, 0.5, 0.7)]
    print(f"\n{'extractor':<12} {'min_pages':>9} {'min_share':>9} {'F1':>7} {'lines removed':>13} "
          f"{'ref lines removed':>17} {'pages emptied':>13}")
    for name, ts in texts.items():
        for mp, ms in grid:
            cfg = TemplateConfig(enabled=mp is not None, min_pages=mp or 3, min_share=ms or 0.5)
            r = evaluate(ts, pages, cfg)
            print(f"{name:<12} {mp or '-':>9} {ms or '-':>9} {r['f1']:7.4f} {r['removed']:13d} "
                  f"{r['wrong']:17d} {r['emptied']:13d}")
    if args.show_wrong:
        name, mp, ms = args.show_wrong.split(":")
        cfg = TemplateConfig(min_pages=int(mp), min_share=float(ms))
        by_domain: dict[str, list[int]] = defaultdict(list)
        for i, page in enumerate(pages):
            by_domain[page["domain"]].append(i)
        for domain, idx in by_domain.items():
            ts = texts[name]
            hashes = template_lines([ts[i].split("\n") for i in idx], cfg)
            for i in idx:
                new, n = remove_template_lines(ts[i], hashes)
                for line in wrongly_removed(ts[i], new, pages[i]["reference"]) if n else []:
                    print(f"{domain}\t{pages[i]['id']}\t{line[:80]}")


if __name__ == "__main__":
    main()
