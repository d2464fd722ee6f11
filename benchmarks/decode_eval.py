"""How well `pipelines.web.decode.decode_html` turns page bytes into the right text.

Three measurements, all from the shared data (read in place):

1. web_extraction: each page's raw bytes (gunzip of html_path) are decoded, and the decoded
   text (HTML entities resolved) is checked against the human reference text, which was made
   independently of any decoder: coverage = share of the reference's distinct CJK characters
   (zh sets) or distinct non-ASCII characters and words (en set) found in the decoded text.
   For trafilatura_zh (no reference), the share of its must-contain segments found.
   A page is "mojibake" when coverage < 0.5, "lossy" when < 0.99. Compared with naive ways:
   trust the <meta> charset (Python codecs, replacement), charset-normalizer alone, chardet
   alone, UTF-8 with replacement.
2. synthetic legacy pages: real sentences of 22 languages (langid_eval) encoded in their legacy
   code pages, wrapped in HTML with a correct <meta>, no declaration, or the common lie of an
   HTTP "iso-8859-1" (a server default) / "utf-8"; a page is right when every sentence comes
   back exactly.
3. the HTML responses of warc_samples/cc_resiliparse/warcfile.warc.gz (real Common Crawl,
   GB2312/GBK, windows-1251, iso-8859-1): decision, encoding, lies found; no reference text,
   so the common-Han share is shown as a plausibility figure.

    python benchmarks/decode_eval.py [--limit N] [--sets daniel_zh,cwced_zh]
"""
from __future__ import annotations

import argparse
import collections
import gzip
import html
import json
import re
import sys
import time



from pipelines.datadir import dataset_path
from pipelines.web import decode as D

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
NON_ASCII_WORD = re.compile(r"\w*[^\x00-\x7f\s]\w*")


def coverage(row: dict, text: str | None) -> float:
    if text is None:
        return 0.0
    text = html.unescape(text)
    reference, lang = row["reference"], row["lang"]
    if reference is None:  # segment-only set (trafilatura_zh): the must-contain segments
        return sum(seg in text for seg in row["with"]) / len(row["with"])
    if lang == "zh":
        want = set(CJK.findall(reference))
        have = set(CJK.findall(text))
    else:
        # English pages: the non-ASCII characters (’ “ — é ...) are what a wrong decode breaks.
        want = set(ch for ch in reference if ord(ch) > 127 and not ch.isspace())
        have = set(ch for ch in text if ord(ch) > 127)
    if not want:
        return 1.0
    return len(want & have) / len(want)


# ---------------------------------------------------------------------------- naive decoders
def naive_meta(body: bytes, http_charset):
    label = D.meta_charset(body) or "utf-8"
    try:
        return body.decode(label, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def naive_cn(body: bytes, http_charset):
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    return str(best) if best is not None else None


def naive_chardet(body: bytes, http_charset):
    import chardet

    enc = chardet.detect(body)["encoding"] or "utf-8"
    try:
        return body.decode(enc, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def naive_utf8(body: bytes, http_charset):
    return body.decode("utf-8", "replace")


def ours(body: bytes, http_charset):
    return D.decode_html(body, http_charset).text


METHODS = {"decode_html": ours, "meta-trust": naive_meta, "charset-normalizer": naive_cn,
           "chardet": naive_chardet, "utf-8-replace": naive_utf8}


def web_extraction(limit: int | None, sets: set[str] | None):
    root = dataset_path("web_extraction")
    rows = [json.loads(line) for line in (root / "pages.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if (r.get("reference") or r.get("with")) and (not sets or r["set"] in sets)]
    by_set = collections.defaultdict(list)
    for r in rows:
        by_set[r["set"]].append(r)
    print("## 1. web_extraction (reference text = ground truth)\n")
    print("| set | method | pages | mojibake (<0.5) | lossy (<0.99) | mean coverage | ms/page |")
    print("|---|---|---:|---:|---:|---:|---:|")
    details = {}
    for name, pages in sorted(by_set.items()):
        pages = pages[:limit] if limit else pages
        bodies = [gzip.open(root / r["html_path"]).read() for r in pages]
        for method, fn in METHODS.items():
            covs, secs = [], 0.0
            for r, body in zip(pages, bodies):
                t0 = time.perf_counter()
                text = fn(body, None)
                secs += time.perf_counter() - t0
                covs.append(coverage(r, text))
                if method == "decode_html" and covs[-1] < 0.99:
                    print(f"  lossy: {r['id']} {covs[-1]:.3f} {D.decode_html(body, None)}"[:220],
                          file=sys.stderr)
            moji = sum(c < 0.5 for c in covs)
            lossy = sum(c < 0.99 for c in covs)
            print(f"| {name} | {method} | {len(pages)} | {moji} | {lossy} | "
                  f"{sum(covs) / len(covs):.4f} | {1000 * secs / len(pages):.2f} |")
        decisions = collections.Counter()
        for body in bodies:
            d = D.decode_html(body, None)
            decisions[(d.decision, d.encoding, d.declared_wrong)] += 1
        details[name] = decisions
    print("\ndecode_html decisions per set (decision, encoding, declared_wrong): pages")
    for name, decisions in details.items():
        print(f"- {name}: " + "; ".join(f"{k[0]} {k[1]} {list(k[2]) or ''}: {v}"
                                         for k, v in decisions.most_common()))
    # The common-Han share of the references: what COMMON_HAN_MIN_SHARE must stay below.
    shares = []
    for r in rows:
        han = D._HAN_RE.findall(r["reference"] or "")
        if r["lang"] == "zh" and len(han) >= D.CJK_MIN_HAN:  # segment-only rows have no reference
            shares.append(sum(ch in D._COMMON_HAN for ch in han) / len(han))
    shares.sort()
    print(f"\nreference common-Han share over {len(shares)} zh pages: min {shares[0]:.3f}, "
          f"1st percentile {shares[len(shares) // 100]:.3f}, median {shares[len(shares) // 2]:.3f}")
    # ... and what the wrong CJK codec makes of the same references (COMMON_HAN_MIN_SHARE must
    # stay above these): the references encoded one way, decoded another, with replacement.
    for enc, dec in (("gb18030", "big5hkscs"), ("big5hkscs", "gb18030"), ("utf-8", "gb18030"),
                     ("utf-8", "big5hkscs"), ("gb18030", "cp949"), ("gb18030", "cp932")):
        wrong = []
        for r in rows:
            if r["lang"] != "zh" or not r["reference"]:
                continue
            text = r["reference"].encode(enc, "ignore").decode(dec, "replace")
            han = D._HAN_RE.findall(text)
            if len(han) >= D.CJK_MIN_HAN:
                wrong.append(sum(ch in D._COMMON_HAN for ch in han) / len(han))
        wrong.sort()
        print(f"- {enc} bytes read as {dec}: common-Han share max {wrong[-1]:.3f}, "
              f"99th percentile {wrong[len(wrong) * 99 // 100]:.3f}, median {wrong[len(wrong) // 2]:.3f} "
              f"({len(wrong)} pages)")
    return by_set


# ---------------------------------------------------------------------- synthetic legacy pages
LEGACY = {"zh": ["gb18030", "big5"], "ja": ["cp932", "euc_jp"], "ko": ["cp949"],
          "ru": ["cp1251", "koi8_r"], "uk": ["cp1251"], "el": ["cp1253", "iso8859_7"],
          "he": ["cp1255"], "ar": ["cp1256"], "fa": ["cp1256"], "th": ["cp874"], "tr": ["cp1254"],
          "pl": ["cp1250", "iso8859_2"], "fr": ["cp1252"], "de": ["cp1252"], "es": ["cp1252"],
          "pt": ["cp1252"], "it": ["cp1252"], "nl": ["cp1252"], "vi": ["cp1258"], "en": ["cp1252"],
          "id": ["cp1252"]}


def _valid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def synthetic(sentences_per_page: int = 20):
    rows = [json.loads(line) for line in (dataset_path("langid_eval") / "langid.jsonl").open()]
    by_lang = collections.defaultdict(list)
    for r in rows:
        by_lang[r["lang"]].append(r["text"])
    print("\n## 2. synthetic legacy-encoded pages (langid_eval sentences; right = all sentences back)\n")
    print("| lang | codec | pages | right: meta | right: no declaration | right: HTTP iso-8859-1 lie "
          "| right: HTTP utf-8 lie | detector-only right |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    from charset_normalizer import from_bytes

    totals = collections.Counter()
    for lang, codecs_ in LEGACY.items():
        for codec in codecs_:
            sents = []
            for s in by_lang[lang]:
                try:
                    raw = s.encode(codec)
                except UnicodeEncodeError:
                    continue
                if raw.decode(codec) != s:
                    continue  # no round trip (cp932 turns 〜 into ～): not a decoder's fault
                if not raw.isascii() and codec != "gb18030" and _valid_utf8(raw):
                    continue  # the sentence is itself mojibake ("ErkoÃ§"): UTF-8 read as cp1252
                sents.append(s)
            pages = [sents[i:i + sentences_per_page] for i in range(0, len(sents), sentences_per_page)]
            pages = [p for p in pages if len(p) == sentences_per_page]
            right = collections.Counter()
            for p in pages:
                body_text = "".join(f"<p>{html.escape(s)}</p>\n" for s in p)
                for mode in ("meta", "none", "latin1", "utf8", "cn"):
                    head = f'<meta charset="{codec}">' if mode == "meta" else ""
                    raw = f"<html><head>{head}<title>t</title></head><body>\n{body_text}</body></html>"
                    body = raw.encode(codec)
                    if mode == "cn":
                        best = from_bytes(body).best()
                        text = str(best) if best is not None else ""
                    else:
                        http = {"latin1": "iso-8859-1", "utf8": "utf-8"}.get(mode)
                        text = D.decode_html(body, http).text or ""
                    ok = all(html.escape(s) in text for s in p)
                    right[mode] += ok
                    totals[mode] += ok
            totals["pages"] += len(pages)
            print(f"| {lang} | {codec} | {len(pages)} | {right['meta']} | {right['none']} | "
                  f"{right['latin1']} | {right['utf8']} | {right['cn']} |")
    print(f"| all | | {totals['pages']} | {totals['meta']} | {totals['none']} | {totals['latin1']} | "
          f"{totals['utf8']} | {totals['cn']} |")


# ------------------------------------------------------------------------------- WARC sample
def warc_sample():
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    path = dataset_path("warc_samples") / "cc_resiliparse" / "warcfile.warc.gz"
    print("\n## 3. warc_samples/cc_resiliparse/warcfile.warc.gz HTML responses\n")
    print("| url | HTTP charset | meta | decision | encoding | declared_wrong | Han | common-Han share "
          "| meta-trust same text | ms |")
    print("|---|---|---|---|---|---|---:|---:|---|---:|")
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            body = rec.reader.read()
            ctype = rec.http_headers.get("Content-Type") or ""
            m = re.search(r"charset=([^\s;]+)", ctype, re.I)
            http = m.group(1) if m else None
            t0 = time.perf_counter()
            d = D.decode_html(body, http)
            ms = 1000 * (time.perf_counter() - t0)
            han = D._HAN_RE.findall(d.text or "")
            share = sum(ch in D._COMMON_HAN for ch in han) / len(han) if han else float("nan")
            same = naive_meta(body, http) == d.text
            print(f"| {rec.headers.get('WARC-Target-URI')[:40]} | {http} | {D.meta_charset(body)} | "
                  f"{d.decision} | {d.encoding} | {','.join(d.declared_wrong)} | {len(han)} | "
                  f"{share:.3f} | {same} | {ms:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, help="pages per set (development runs)")
    ap.add_argument("--sets", help="comma-separated web_extraction sets")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: web,synthetic,warc")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    if "web" not in skip:
        web_extraction(args.limit, set(args.sets.split(",")) if args.sets else None)
    if "synthetic" not in skip:
        synthetic()
    if "warc" not in skip:
        warc_sample()


if __name__ == "__main__":
    main()
