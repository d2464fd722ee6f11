"""THE synthetic-junk generator, and the real boilerplate pages both measurements use.

`synthetic_junk(texts, n_per_family, seed, recipe=...)` makes junk any reader would drop from
real text, reproducibly. It has two recipes because two published figures were measured on
them, and they are not the same junk:

- "model" (the quality classifier's training and held-out junk, README: ROC-AUC 0.987): one
  mixed-language pool; keyword stuffing of 2-5 content words, character salad that shuffles
  one real text's characters (zh) or tokens and letters (en), number/table dumps under a
  header of real words (dates, prices, percentages), phrase spam (one sentence repeated),
  link lists from templated anchors ("{}下载", "best {}").
- "filters" (the rule filters' quality, README table of benchmarks/quality_eval.py): one
  language at a time from that language's clean texts; phrase spam of one or two sentences
  repeated on lines, keyword stuffing of 3-6 words repeated 40-160 times, wider number dumps
  (6-16 cells) with an optional label word, doorway pages from three fixed sentence patterns
  ("templated"), character salad drawn at real character / letter frequencies.

The families share names where they are the same idea; their parameters differ, and each
recipe's figures depend on its own, so neither is rewritten in terms of the other.
"""
from __future__ import annotations

import random
import re
from typing import Sequence

from pipelines.datadir import dataset_path
from pipelines.files import read_jsonl
from pipelines.quality_model import TOKEN_RE, is_zh
from pipelines.text.script import HAN_RE, looks_chinese

from .data import unique

# Junk the classifier learns. Phrase spam (one sentence repeated) is made for its evaluation
# only: fastText averages n-gram vectors, so a sentence said 20 times averages to the sentence
# said once; training on it teaches the model that clean sentences are junk. The repetition
# filters (word_repetition, char_repetition) are what catch it.
MODEL_FAMILIES = ("keyword_stuffing", "char_salad", "number_dump", "templated_links")


def synthetic_junk(texts: Sequence[str], n_per_family: int, seed: int | random.Random = 0, *,
                   recipe: str = "model", lang: str | None = None) -> dict[str, list[str]]:
    """{family: [junk text] * n_per_family} made from real `texts`, reproducible by `seed`
    (an int, or a random.Random to continue, as the filter evaluation does from one language to
    the next). recipe "model": `texts` of any language; recipe "filters": `texts` of one
    language `lang` ("zh" or "en"), of which the first 400 are used."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    if recipe == "model":
        return _model_junk(texts, n_per_family, rng)
    if recipe == "filters":
        if lang not in ("zh", "en"):
            raise ValueError(f"the filters recipe makes zh or en junk, got lang={lang!r}")
        return _filter_junk(list(texts)[:400], lang, n_per_family, rng)
    raise ValueError(f"recipe must be 'model' or 'filters', got {recipe!r}")


# ---------------------------------------------------------------------------- recipe "model"
def _tokens(text: str) -> list[str]:
    if is_zh(text, None):
        from pipelines.text.segment import load_jieba

        return [t for t in load_jieba().lcut(text, HMM=False) if TOKEN_RE.fullmatch(t) and t.strip()]
    return re.findall(r"\w+", text)


def _content_words(text: str) -> list[str]:
    return [t for t in _tokens(text) if len(t) >= 2 and not t.isdigit()] or _tokens(text) or ["text"]


def _model_junk(texts: Sequence[str], n_per_family: int, rng: random.Random) -> dict[str, list[str]]:
    pick = lambda: rng.choice(texts)  # noqa: E731
    out: dict[str, list[str]] = {f: [] for f in ("keyword_stuffing", "char_salad", "number_dump", "phrase_spam",
                                                  "templated_links")}
    for _ in range(n_per_family):
        words = _content_words(pick())
        keys = rng.sample(words, min(len(words), rng.randint(2, 5)))
        sep = rng.choice([" ", ",", "，", " | ", "、", ""])
        out["keyword_stuffing"].append(sep.join(rng.choice(keys) for _ in range(rng.randint(20, 80))))

        t = pick()
        if is_zh(t, None):
            chars = [c for c in t if not c.isspace()]
            rng.shuffle(chars)
            out["char_salad"].append("".join(chars))
        else:
            toks = t.split()
            rng.shuffle(toks)
            out["char_salad"].append(" ".join("".join(rng.sample(w, len(w))) if rng.random() < 0.5 else w
                                              for w in toks))

        header = rng.sample(words, min(len(words), rng.randint(2, 5)))
        rows = [" | ".join(header)]
        for _r in range(rng.randint(8, 40)):
            cells = [rng.choice([f"{rng.randint(2000, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                                 f"{rng.uniform(0, 1000):.2f}", f"{rng.randint(0, 10**6):,}", f"{rng.uniform(0, 100):.1f}%",
                                 str(rng.randint(0, 99999))]) for _c in header]
            rows.append(" | ".join(cells) if rng.random() < 0.7 else " ".join(cells))
        out["number_dump"].append("\n".join(rows))

        sents = [s for s in re.split(r"(?<=[。！？.!?])", pick()) if len(s.strip()) >= 6] or [pick()[:60]]
        phrase = rng.choice(sents).strip()
        out["phrase_spam"].append((" " if not is_zh(phrase, None) else "").join([phrase] * rng.randint(8, 30)))

        anchors = rng.sample(words, min(len(words), rng.randint(4, 10)))
        zh = is_zh(" ".join(anchors), None)
        frame = rng.choice(["{}下载", "{}官网", "{}价格", "最新{}", "{}大全"] if zh else
                           ["{} download", "best {}", "{} online", "cheap {}", "{} reviews"])
        page = [frame.format(a) for a in anchors for _k in range(rng.randint(1, 3))]
        rng.shuffle(page)
        out["templated_links"].append("\n".join(page))
    return out


# ---------------------------------------------------------------------------- recipe "filters"
_SENT_SPLIT = re.compile(r"(?<=[。！？!?.])\s*")
_EN_WORD = re.compile(r"[A-Za-z]{3,}")
_ZH_PATTERNS = ["{a}{b}价格是多少？本站为您提供最新的{a}{b}报价，欢迎咨询{a}{b}厂家。",
                "{a}{b}哪家好？{a}{b}排名前十的品牌都在这里，点击查看{a}{b}详情。",
                "想了解{a}{b}多少钱？请拨打{a}{b}热线，我们提供专业的{a}{b}服务。"]
_EN_PATTERNS = ["Looking for the best {a} {b} near you? We offer cheap {a} {b} services in your area.",
                "Top 10 {a} {b} reviews: compare {a} {b} prices and buy {a} {b} online today.",
                "Our {a} {b} experts provide affordable {a} {b} solutions. Call now for a free {a} {b} quote."]


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


def _filter_junk(texts: list[str], lang: str, n_per_family: int, rng: random.Random) -> dict[str, list[str]]:
    if lang == "zh":
        sents, words = _sentences(texts, 12, 60), _zh_words(texts[:150])
        chars = [ch for t in texts[:150] for ch in t if not ch.isspace()]
    else:
        sents, words = _sentences(texts, 40, 160), [w.lower() for t in texts[:150] for w in _EN_WORD.findall(t)]
    sep = "" if lang == "zh" else " "
    out: dict[str, list[str]] = {f: [] for f in ("phrase_spam", "keyword_stuffing", "number_dump", "templated",
                                                  "char_salad")}
    for _ in range(n_per_family):
        # Phrase spam: one real sentence (or two) repeated, as link farms and spam comments do.
        base = rng.sample(sents, rng.randint(1, 2))
        out["phrase_spam"].append("\n".join(sep.join(base) for _ in range(rng.randint(6, 30))))
        # Keyword stuffing: a handful of real words repeated in shuffled order.
        keys = rng.sample(words, rng.randint(3, 6))
        stuffed = [rng.choice(keys) for _ in range(rng.randint(40, 160))]
        joiner = rng.choice([" ", ", ", " | ", "，" if lang == "zh" else " - "])
        out["keyword_stuffing"].append(joiner.join(stuffed))
        # Number/table dumps: rows of figures with a real word or two as labels.
        rows = []
        for _ in range(rng.randint(8, 40)):
            cells = [f"{rng.uniform(0, 10 ** rng.randint(1, 6)):.{rng.randint(0, 2)}f}" for _ in range(rng.randint(6, 16))]
            if rng.random() < 0.5:
                cells.insert(0, rng.choice(words))
            rows.append(rng.choice(["\t", " ", " | "]).join(cells))
        out["number_dump"].append("\n".join(rows))
        # Templated (doorway) pages: one sentence pattern, slots filled from real words.
        slot_words = rng.sample(words, 12)
        patterns = _ZH_PATTERNS if lang == "zh" else _EN_PATTERNS
        lines = [rng.choice(patterns).format(a=rng.choice(slot_words[:4]), b=rng.choice(slot_words[4:]))
                 for _ in range(rng.randint(15, 50))]
        out["templated"].append("\n".join(lines))
        # Character salad: characters (zh) or letters (en) drawn at their real frequencies.
        if lang == "zh":
            out["char_salad"].append("".join(rng.choice(chars) for _ in range(rng.randint(80, 400))))
        else:
            letters = [ch for w in words for ch in w]
            out["char_salad"].append(" ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
                                              for _ in range(rng.randint(30, 120))))
    return out


# ---------------------------------------------------------------------------- real boilerplate
def boilerplate_pages(side: str) -> list[str]:
    """The classifier's real boilerplate-only pages: a trafilatura page's labelled boilerplate
    snippets (train), or an article-benchmark page's lines outside its gold text (held out)."""
    rows = list(read_jsonl(dataset_path("boilerplate_eval") / "labels.jsonl"))
    if side == "train":
        return unique(("\n".join(r["boilerplate_snippets"]) for r in rows
                       if r["source"] == "web-trafilatura-eval" and len(r["boilerplate_snippets"] or []) >= 2), 80)
    texts = {}
    wanted = {r["id"] for r in rows if r["source"] == "web-article-extraction-benchmark"}
    for path in sorted(dataset_path("corpus_web_mixed").glob("*.jsonl")):
        for d in read_jsonl(path):
            if d["id"] in wanted:
                texts[d["id"]] = d["text"]
    pages = []
    for r in rows:
        if r["id"] in texts and r.get("gold_main_text"):
            gold = r["gold_main_text"]
            lines = [l.strip() for l in texts[r["id"]].split("\n") if l.strip() and l.strip() not in gold]
            if len(lines) >= 3:
                pages.append("\n".join(lines[:60]))
    return unique(pages, 80)


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


def boilerplate_junk(docs: list[dict]) -> list[tuple[str, str, str]]:
    """The filter evaluation's real boilerplate, as (text, family, lang): every labelled page
    of boilerplate_eval with its main text taken out ("boilerplate_page"), and each labelled
    boilerplate snippet alone ("boilerplate_line"). Stricter about what is article text than
    `boilerplate_pages`: the gold body is segmented differently from the page's lines, so a
    line counts as article text when it sits inside the gold body or shares most of its word
    trigrams with it."""
    out = []
    by_id = {d["id"]: d["text"] for d in docs}
    for row in read_jsonl(dataset_path("boilerplate_eval") / "labels.jsonl"):
        raw = by_id.get(row["id"])
        if raw is None:
            continue
        if row.get("gold_main_text"):
            gold_flat = _squash(row["gold_main_text"])
            gold_grams = _trigrams(gold_flat)
            lines = [l for l in raw.split("\n") if l.strip() and not _in_gold(l, gold_flat, gold_grams)]
        else:
            snippets = row.get("boilerplate_snippets") or []
            lines = [l for l in raw.split("\n") if any(s.strip()[:40] in l for s in snippets if s.strip())]
        if len(lines) >= 3:
            out.append(("\n".join(lines), "boilerplate_page", _group(lines)))
        for s in row.get("boilerplate_snippets") or []:
            if s.strip():
                out.append((s.strip(), "boilerplate_line", _group([s])))
    return out


def _group(lines: list[str]) -> str:
    """The language group a piece of boilerplate is reported in: "zh" when it looks Chinese
    (the pipeline's one rule; a lone Han name in an English footer does not make it Chinese)."""
    return "zh" if looks_chinese("\n".join(lines)) else "en"
