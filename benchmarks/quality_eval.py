"""Filter quality on real data: what a careful reader would keep is kept, junk is dropped.

Two sides, both built reproducibly from ../shared/data (ROOTS_DATA_DIR):

(a) Retention of clean prose: distinct texts of the clean sources of corpus_web_mixed (paper
    abstracts, WMT22 human translations, Chinese Wikipedia paragraphs, C3 passages, English
    Wikipedia), the C4 pages a reader judged clean (benchmarks/data/c4_judgments.tsv), and the
    contexts of the QA folders (CMRC: Simplified, DRCD: Traditional, SQuAD: English).
(b) Removal of junk, in families any reader would drop, each made from real text with a fixed
    seed: boilerplate-only pages and the labeled boilerplate lines of boilerplate_eval, phrase
    spam, keyword stuffing, character salad, number/table dumps and templated (doorway) pages.

Every document goes through the pipeline's own DocumentProcessor (clean, language, signals,
filters; dedup is not part of this question). Texts are split in two halves by a hash of the
text: `tune` is what the thresholds in pipelines/config/default.yaml were read from, `check`
is the half they were not. Targets (issue 13): >= 0.97 of clean texts kept per language and
script (zh-Hans, zh-Hant, en), >= 0.95 of each junk family dropped.

    python benchmarks/quality_eval.py [--config my.yaml] [--half check|tune|all] [--output OUT]
    roots-pipeline inspect OUT --reason char_repetition     # read the drops of one reason

With --output, the drops are written as OUT/dropped/*.jsonl.gz (the pipeline's own layout) and
the report as OUT/quality_eval.json and OUT/quality_eval.html.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.config import PipelineConfig  # noqa: E402
from pipelines.datadir import dataset_path  # noqa: E402
from pipelines.process import DocumentProcessor  # noqa: E402
from pipelines.text.script import HAN_RE  # noqa: E402

CLEAN_TARGET, JUNK_TARGET = 0.97, 0.95
CLEAN_SOURCES = ("zh-paper-abstracts", "wmt22-human-translation", "zh-wiki-paragraphs", "zh-c3-passages", "wiki-en")
REPORTED_ONLY = "c4_judged_junk"
# Every family is held to JUNK_TARGET. boilerplate_page reached it last (0.932 -> 0.952 on
# the check half): what the line rules leave of an article-less page is paywall and cookie
# notices, disclaimers, author bios and comment policies written as sentences, and the
# boilerplate remover now drops such a page whole (pipelines/text/boilerplate.py).
C4_JUDGMENTS = Path(__file__).resolve().parent / "data" / "c4_judgments.tsv"


def half_of(text: str) -> str:
    return "tune" if hashlib.sha1(text.encode("utf-8")).digest()[0] % 2 == 0 else "check"


def _corpus() -> list[dict]:
    out = []
    for path in sorted(dataset_path("corpus_web_mixed").glob("*.jsonl")):
        out.extend(json.loads(line) for line in path.open(encoding="utf-8"))
    return out


def _contexts(folder: str) -> list[str]:
    rows = (json.loads(l) for l in (dataset_path(folder) / "dev.jsonl").open(encoding="utf-8"))
    return list(dict.fromkeys(r["context"] for r in rows))


def c4_judgments() -> dict[str, str]:
    """C4 page id -> clean | junk | mixed, as a reader judged 300 pages (see the file's header)."""
    rows = [l.rstrip("\n").split("\t") for l in C4_JUDGMENTS.open(encoding="utf-8") if l.strip() and not l.startswith("#")]
    return {r[0]: r[1] for r in rows[1:]}


def _group(lang: str, script: str, name: str) -> str:
    return f"{lang}-{script}" if lang == "zh" else lang


def clean_items(corpus: list[dict]) -> list[dict]:
    """Distinct clean texts, each tagged with language group and source."""
    items, seen = [], set()

    def add(text, source, group):
        if text and text not in seen:
            seen.add(text)
            items.append({"text": text, "source": source, "group": group, "side": "clean"})

    c4 = c4_judgments()
    for d in corpus:
        src = d["source"]
        if src == "wmt22-human-translation":
            # The Chinese references; the English ones translate Japanese shop adverts (not prose).
            if "-enzh-" in d["id"]:
                add(d["text"], "wmt22-human-translation-zh", "zh-Hans")
        elif src in CLEAN_SOURCES:
            add(d["text"], src, "en" if src == "wiki-en" else "zh-Hans")
        elif src == "c4-en" and c4.get(d["id"]) == "clean":
            add(d["text"], "c4-en-judged-clean", "en")
    for folder, group in (("qa_cmrc2018_dev", "zh-Hans"), ("qa_drcd", "zh-Hant"), ("qa_squad_v1.1_dev", "en")):
        for text in _contexts(folder):
            add(text, folder, group)
    return items


# ---------------------------------------------------------------------------- junk families
_SENT_SPLIT = re.compile(r"(?<=[。！？!?.])\s*")
_EN_WORD = re.compile(r"[A-Za-z]{3,}")


def _sentences(texts: list[str], lo: int, hi: int) -> list[str]:
    out = []
    for t in texts:
        out.extend(s.strip() for s in _SENT_SPLIT.split(t.replace("\n", " ")) if lo <= len(s.strip()) <= hi)
    return out


def _zh_words(texts: list[str]) -> list[str]:
    import jieba

    words = []
    for t in texts:
        words.extend(w for w in jieba.lcut(t, HMM=False) if len(w) >= 2 and HAN_RE.match(w))
    return words


_WS = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


def _trigrams(text: str) -> set:
    w = text.split()
    return {tuple(w[i:i + 3]) for i in range(len(w) - 2)}


def _in_gold(line: str, gold_flat: str, gold_grams: set) -> bool:
    flat = _squash(line)
    if flat in gold_flat:
        return True
    grams = _trigrams(flat)
    return bool(grams) and len(grams & gold_grams) >= 0.5 * len(grams)


def junk_items(corpus: list[dict], clean: list[dict], seed: int = 13, per_family: int = 150) -> list[dict]:
    rng = random.Random(seed)
    items = []

    def add(text, family, group):
        items.append({"text": text, "source": family, "group": group, "side": "junk"})

    zh_texts = [c["text"] for c in clean if c["group"] == "zh-Hans"][:400]
    en_texts = [c["text"] for c in clean if c["group"] == "en"][:400]
    zh_sents, en_sents = _sentences(zh_texts, 12, 60), _sentences(en_texts, 40, 160)
    zh_words = _zh_words(zh_texts[:150])
    en_words = [w.lower() for t in en_texts[:150] for w in _EN_WORD.findall(t)]
    zh_chars = [ch for t in zh_texts[:150] for ch in t if not ch.isspace()]

    # Boilerplate-only pages: the boilerplate of a real page, its main text taken out.
    by_id = {d["id"]: d["text"] for d in corpus}
    for row in (json.loads(l) for l in (dataset_path("boilerplate_eval") / "labels.jsonl").open(encoding="utf-8")):
        raw = by_id.get(row["id"])
        if raw is None:
            continue
        if row.get("gold_main_text"):
            # Lines of the page that are not article text. The gold body is segmented
            # differently from the page's lines, so a line counts as article text when it sits
            # inside the gold body or shares most of its word trigrams with it.
            gold_flat = _squash(row["gold_main_text"])
            gold_grams = _trigrams(gold_flat)
            lines = [l for l in raw.split("\n") if l.strip() and not _in_gold(l, gold_flat, gold_grams)]
        else:
            snippets = row.get("boilerplate_snippets") or []
            lines = [l for l in raw.split("\n") if any(s.strip()[:40] in l for s in snippets if s.strip())]
        if len(lines) >= 3:
            add("\n".join(lines), "boilerplate_page", "zh" if HAN_RE.search("".join(lines)) else "en")
        for s in row.get("boilerplate_snippets") or []:
            if s.strip():
                add(s.strip(), "boilerplate_line", "zh" if HAN_RE.search(s) else "en")

    # Real junk: the C4 pages a reader judged junk (spun SEO text, listings, name dumps).
    # Reported beside the families but not held to their target: spun prose needs a model.
    c4 = c4_judgments()
    for d in corpus:
        if d["source"] == "c4-en" and c4.get(d["id"]) == "junk":
            add(d["text"], REPORTED_ONLY, "en")

    for lang, sents, words in (("zh", zh_sents, zh_words), ("en", en_sents, en_words)):
        sep = "" if lang == "zh" else " "
        for _ in range(per_family):
            # Phrase spam: one real sentence (or two) repeated, as link farms and spam comments do.
            base = rng.sample(sents, rng.randint(1, 2))
            add("\n".join(sep.join(base) for _ in range(rng.randint(6, 30))), "phrase_spam", lang)
            # Keyword stuffing: a handful of real words repeated in shuffled order.
            keys = rng.sample(words, rng.randint(3, 6))
            stuffed = [rng.choice(keys) for _ in range(rng.randint(40, 160))]
            joiner = rng.choice([" ", ", ", " | ", "，" if lang == "zh" else " - "])
            add(joiner.join(stuffed), "keyword_stuffing", lang)
            # Number/table dumps: rows of figures with a real word or two as labels.
            rows = []
            for _ in range(rng.randint(8, 40)):
                cells = [f"{rng.uniform(0, 10 ** rng.randint(1, 6)):.{rng.randint(0, 2)}f}" for _ in range(rng.randint(6, 16))]
                if rng.random() < 0.5:
                    cells.insert(0, rng.choice(words))
                rows.append(rng.choice(["\t", " ", " | "]).join(cells))
            add("\n".join(rows), "number_dump", lang)
            # Templated (doorway) pages: one sentence pattern, slots filled from real words.
            slot_words = rng.sample(words, 12)
            if lang == "zh":
                patterns = ["{a}{b}价格是多少？本站为您提供最新的{a}{b}报价，欢迎咨询{a}{b}厂家。",
                            "{a}{b}哪家好？{a}{b}排名前十的品牌都在这里，点击查看{a}{b}详情。",
                            "想了解{a}{b}多少钱？请拨打{a}{b}热线，我们提供专业的{a}{b}服务。"]
            else:
                patterns = ["Looking for the best {a} {b} near you? We offer cheap {a} {b} services in your area.",
                            "Top 10 {a} {b} reviews: compare {a} {b} prices and buy {a} {b} online today.",
                            "Our {a} {b} experts provide affordable {a} {b} solutions. Call now for a free {a} {b} quote."]
            lines = [rng.choice(patterns).format(a=rng.choice(slot_words[:4]), b=rng.choice(slot_words[4:]))
                     for _ in range(rng.randint(15, 50))]
            add("\n".join(lines), "templated", lang)
            # Character salad: characters (zh) or letters (en) drawn at their real frequencies.
            if lang == "zh":
                add("".join(rng.choice(zh_chars) for _ in range(rng.randint(80, 400))), "char_salad", lang)
            else:
                letters = [ch for w in words for ch in w]
                salad = " ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
                                 for _ in range(rng.randint(30, 120)))
                add(salad, "char_salad", lang)
    return items


def build_items(half: str = "all", limit: int | None = None, seed: int = 13) -> list[dict]:
    corpus = _corpus()
    clean = clean_items(corpus)
    items = clean + junk_items(corpus, clean, seed=seed)
    for it in items:
        it["half"] = half_of(it["text"])
    if half != "all":
        items = [it for it in items if it["half"] == half]
    if limit:
        # A slice for CI: the first `limit` items of every source, in a fixed order.
        per = defaultdict(int)
        kept = []
        for it in items:
            if per[it["source"], it["group"]] < limit:
                per[it["source"], it["group"]] += 1
                kept.append(it)
        items = kept
    return items


# ---------------------------------------------------------------------------- evaluation
def evaluate(items: list[dict], config: PipelineConfig) -> tuple[dict, list[dict]]:
    processor = DocumentProcessor(config)
    processor.setup()
    drops = []
    rows: dict[tuple, dict] = {}
    for i, it in enumerate(items):
        doc = {"id": f"qe-{i}", "key": f"qe-{i}", "text": it["text"], "source": it["source"], "url": None,
               "lang": None, "lang_score": None, "input_file": "quality_eval", "boilerplate_lines_removed": 0,
               "signals": None}
        reason = processor(doc)
        for key in ((it["side"], "group", it["group"]), (it["side"], "source", it["source"], it["group"])):
            r = rows.setdefault(key, {"n": 0, "kept": 0, "reasons": Counter()})
            r["n"] += 1
            if reason is None:
                r["kept"] += 1
            else:
                r["reasons"][reason] += 1
        if reason is not None:
            doc["reason"] = reason
            doc["eval_side"] = it["side"]
            drops.append(doc)
    return rows, drops


def report(rows: dict) -> dict:
    out = {"clean": {}, "junk": {}, "clean_sources": {}, "junk_families": {}, "pass": True, "failures": []}
    for key, r in sorted(rows.items()):
        side, kind = key[0], key[1]
        kept = r["kept"] / r["n"]
        entry = {"n": r["n"], "kept": round(kept, 4), "dropped": round(1 - kept, 4),
                 "reasons": dict(r["reasons"].most_common())}
        if kind == "group":
            out[side][key[2]] = entry
        else:
            out["clean_sources" if side == "clean" else "junk_families"][f"{key[2]} ({key[3]})"] = entry
    for group, e in out["clean"].items():
        if e["kept"] < CLEAN_TARGET:
            out["failures"].append(f"clean {group}: kept {e['kept']:.3f} < {CLEAN_TARGET}")
    families = defaultdict(lambda: [0, 0])
    for key, r in rows.items():
        if key[0] == "junk" and key[1] == "source":
            families[key[2]][0] += r["n"]
            families[key[2]][1] += r["n"] - r["kept"]
    out["junk_by_family"] = {f: round(d / n, 4) for f, (n, d) in sorted(families.items())}
    for fam, frac in out["junk_by_family"].items():
        if frac < JUNK_TARGET and fam != REPORTED_ONLY:
            out["failures"].append(f"junk {fam}: dropped {frac:.3f} < {JUNK_TARGET}")
    out["pass"] = not out["failures"]
    return out


def print_report(rep: dict) -> None:
    print(f"{'clean prose (kept)':44s} {'n':>6s} {'kept':>7s}  main drop reasons")
    for name, e in rep["clean"].items():
        print(f"  {name:42s} {e['n']:6d} {e['kept']:7.3f}  {_top(e['reasons'])}")
    for name, e in rep["clean_sources"].items():
        print(f"    {name:40s} {e['n']:6d} {e['kept']:7.3f}  {_top(e['reasons'])}")
    print(f"\n{'junk (dropped)':44s} {'n':>6s} {'dropped':>7s}  reasons")
    for name, e in rep["junk_families"].items():
        print(f"  {name:42s} {e['n']:6d} {e['dropped']:7.3f}  {_top(e['reasons'])}")
    print("\nper family:", ", ".join(f"{k} {v:.3f}" for k, v in rep["junk_by_family"].items()))
    print("PASS" if rep["pass"] else "FAIL: " + "; ".join(rep["failures"]))


def _top(reasons: dict, n: int = 4) -> str:
    return ", ".join(f"{k} {v}" for k, v in list(reasons.items())[:n])


def write_output(out: Path, rep: dict, drops: list[dict]) -> None:
    (out / "dropped").mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "dropped" / "part-00000-of-00001.jsonl.gz", "wt", encoding="utf-8") as f:
        for d in drops:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    (out / "quality_eval.json").write_text(json.dumps(rep, ensure_ascii=False, indent=2), encoding="utf-8")
    rows = []
    for side, title in (("clean_sources", "clean prose: share kept"), ("junk_families", "junk: share dropped")):
        rows.append(f"<tr><th colspan=4>{title}</th></tr>")
        for name, e in rep[side].items():
            val = e["kept"] if side == "clean_sources" else e["dropped"]
            target = CLEAN_TARGET if side == "clean_sources" else JUNK_TARGET
            cls = "ok" if val >= target else "bad"
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{e['n']}</td><td class={cls}>{val:.3f}</td>"
                        f"<td>{html.escape(_top(e['reasons'], 6))}</td></tr>")
    (out / "quality_eval.html").write_text(
        "<!doctype html><meta charset=utf-8><title>ROOTS quality evaluation</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:3px 10px;text-align:left}"
        ".ok{color:#060}.bad{color:#b00;font-weight:bold}</style>"
        f"<h1>Filter quality</h1><p>{'PASS' if rep['pass'] else 'FAIL: ' + html.escape('; '.join(rep['failures']))}</p>"
        f"<table>{''.join(rows)}</table>", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config")
    ap.add_argument("--half", default="check", choices=["tune", "check", "all"])
    ap.add_argument("--limit", type=int, help="at most this many items per source (a quick slice)")
    ap.add_argument("--output")
    args = ap.parse_args(argv)
    items = build_items(args.half, args.limit)
    rows, drops = evaluate(items, PipelineConfig.load(args.config))
    rep = report(rows)
    print_report(rep)
    if args.output:
        write_output(Path(args.output), rep, drops)
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
