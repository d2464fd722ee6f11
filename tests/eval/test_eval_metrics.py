"""Each roots_eval metric against its reference implementation on fixed cases."""
import collections
import json
import math
import os
import random
import re
import string
import subprocess
import sys
import textwrap

import pytest
import sacrebleu
from nltk.tokenize import NLTKWordTokenizer
from rouge_score import rouge_scorer

from roots_eval import metrics


@pytest.fixture(scope="module", autouse=True)
def offline_hub():
    os.environ["HF_HUB_OFFLINE"] = "1"


def test_metrics_load_offline_from_an_empty_hf_home(tmp_path):
    """The trap: evaluate.load('sacrebleu') works only where a shared HF cache already holds the
    script. In a fresh process with an empty HF_HOME and the Hub off, the Hub name must fail
    and every local module must load and compute."""
    code = textwrap.dedent("""
        import json, evaluate
        from roots_eval import metrics
        try:
            evaluate.load("sacrebleu")
            hub = "loaded"
        except Exception as exc:
            hub = type(exc).__name__
        out = {"hub": hub}
        for name in metrics.available():
            m = metrics.load(name)
            args = dict(predictions=[1, 0], references=[1, 1]) if name == "classification" else \
                   dict(predictions=[-10.0], references=["the cat sat"]) if name == "perplexity" else \
                   dict(predictions=["the cat sat"], references=[["the cat sat"]])
            out[name] = {k: v for k, v in m.compute(**args).items() if isinstance(v, float)}
        print(json.dumps(out))
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1"}
    env.pop("HF_MODULES_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("hub") != "loaded", "the Hub script loaded: this environment is not offline, the test proves nothing"
    assert set(out) == {"sacrebleu", "chrf", "rouge", "squad", "cmrc2018", "classification", "perplexity"}
    # "the cat sat" is 11 bytes: 10 nats over 11 bytes
    assert out["perplexity"]["bits_per_byte"] == pytest.approx(10 / 11 / math.log(2))
    assert out["sacrebleu"]["bleu"] == pytest.approx(0.0)  # 3 tokens: no 4-gram, BLEU 0 as sacrebleu says
    assert out["chrf"]["chrf"] == pytest.approx(100.0)
    assert out["squad"]["exact_match"] == 100.0 and out["cmrc2018"]["f1"] == 100.0
    assert out["classification"]["accuracy"] == 50.0


# -- sacrebleu / chrF ---------------------------------------------------------------------
HYPS_EN = ["The cat sat on the mat.", "A quick brown fox jumps over the dog", "Hello world !", ""]
REFS_EN = [["The cat is sitting on the mat."], ["The quick brown fox jumped over the lazy dog."], ["Hello, world!"], ["Nothing here."]]
HYPS_ZH = ["我们在北京的天安门广场上看到了升旗仪式。", "今天天气很好，我们去公园散步吧。", "他说这个问题很难解决。"]
REFS_ZH = [["我们在天安门广场看到了升旗仪式。", "在北京天安门广场，我们观看了升旗。"],
           ["今天天气不错，我们去公园散步吧。", "天气很好，一起去公园走走吧。"],
           ["他表示这个问题难以解决。", "他说这个问题很难处理。"]]


@pytest.mark.parametrize("hyps,refs,tokenize", [(HYPS_EN, REFS_EN, "13a"), (HYPS_ZH, REFS_ZH, "zh"), (HYPS_ZH, REFS_ZH, "13a")])
def test_sacrebleu_matches_sacrebleu_api(hyps, refs, tokenize):
    streams = [list(s) for s in zip(*refs)]
    reference_bleu = sacrebleu.BLEU(tokenize=tokenize)
    expected = reference_bleu.corpus_score(hyps, streams)
    got = metrics.load("sacrebleu").compute(predictions=hyps, references=refs, tokenize=tokenize, per_sample=True)
    assert got["bleu"] == pytest.approx(expected.score, abs=1e-9)
    assert got["signature"] == str(reference_bleu.get_signature())
    assert f"tok:{tokenize}" in got["signature"] and f"nrefs:{len(refs[0])}" in got["signature"]
    sentence = sacrebleu.BLEU(tokenize=tokenize, effective_order=True)
    assert got["per_sample"]["sentence_bleu"] == pytest.approx([sentence.sentence_score(h, r).score for h, r in zip(hyps, refs)])


def test_chinese_bleu_needs_the_zh_tokenizer():
    hyps = ["我们在北京的天安门广场上看到了升旗仪式。"]
    refs = [["我们在天安门广场上看到了升旗仪式。"]]
    bleu = metrics.load("sacrebleu")
    zh = bleu.compute(predictions=hyps, references=refs, tokenize="zh")["bleu"]
    naive = bleu.compute(predictions=hyps, references=refs, tokenize="13a")["bleu"]
    assert naive == 0.0 and zh > 50.0


def test_sacrebleu_bootstrap_stderr_matches_recomputing_each_resample():
    import numpy as np

    hyps, refs = HYPS_EN[:3] * 4, REFS_EN[:3] * 4
    got = metrics.load("sacrebleu").compute(predictions=hyps, references=refs, bootstrap_iters=50, seed=7)
    rng = np.random.default_rng(7)
    scores = []
    for _ in range(50):
        idx = rng.integers(0, len(hyps), len(hyps))
        scores.append(sacrebleu.corpus_bleu([hyps[i] for i in idx], [[refs[i][0] for i in idx]]).score)
    assert got["stderr"]["bleu"] == pytest.approx(float(np.std(scores, ddof=1)), rel=1e-9)


@pytest.mark.parametrize("hyps,refs", [(HYPS_EN, REFS_EN), (HYPS_ZH, REFS_ZH)])
def test_chrf_matches_sacrebleu_api(hyps, refs):
    streams = [list(s) for s in zip(*refs)]
    got = metrics.load("chrf").compute(predictions=hyps, references=refs)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, streams).score, abs=1e-9)
    assert got["signature"].startswith("nrefs:")


def test_uneven_reference_counts_are_refused():
    with pytest.raises(ValueError, match="same number of references"):
        metrics.load("sacrebleu").compute(predictions=["a", "b"], references=[["a"], ["b", "c"]])


# -- ROUGE --------------------------------------------------------------------------------
SUMS_EN = ["Police arrested two men after the robbery in London.", "The company reported record profits this year"]
REFS_SUM_EN = [["Two men have been arrested following a robbery in central London."], ["Record profits were reported by the firm."]]


def test_rouge_english_matches_rouge_score_with_stemmer():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    got = metrics.load("rouge").compute(predictions=SUMS_EN, references=REFS_SUM_EN, use_stemmer=True, per_sample=True)
    for key in ("rouge1", "rouge2", "rougeL"):
        expected = [100 * scorer.score(r[0], p)[key].fmeasure for p, r in zip(SUMS_EN, REFS_SUM_EN)]
        assert got["per_sample"][key] == pytest.approx(expected)
        assert got[key] == pytest.approx(sum(expected) / len(expected))


def test_rouge_chinese_on_characters_by_hand():
    got = metrics.load("rouge").compute(predictions=["我爱北京"], references=[["我爱天安门"]], tokenizer="zh_char")
    # unigrams: 2 shared of 4 predicted / 5 reference; bigrams: 1 ("我爱") of 3 / 4
    assert got["rouge1"] == pytest.approx(100 * 2 * 0.5 * 0.4 / 0.9)
    assert got["rouge2"] == pytest.approx(100 * 2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert got["rougeL"] == pytest.approx(got["rouge1"])
    # rouge-score's own tokenizer deletes every CJK character: the trap this metric avoids
    assert metrics.load("rouge").compute(predictions=["我爱北京"], references=[["我爱北京"]])["rouge1"] == 0.0


def test_rouge_chinese_matches_rouge_score_given_the_same_tokens():
    from roots_eval.metrics.rouge.rouge import ChineseCharTokenizer

    pred, ref = "苹果公司发布了新款iPhone 15手机。", "苹果发布iPhone 15新手机"
    assert ChineseCharTokenizer().tokenize(pred) == list("苹果公司发布了新款") + ["iphone", "15"] + list("手机")
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=ChineseCharTokenizer())
    got = metrics.load("rouge").compute(predictions=[pred], references=[[ref]], tokenizer="zh_char")
    assert got["rougeL"] == pytest.approx(100 * scorer.score(ref, pred)["rougeL"].fmeasure)


# -- SQuAD v1.1 ---------------------------------------------------------------------------
# The official v1.1 evaluation logic (evaluate-v1.1.py), written out as the oracle.
def _squad_normalize(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _squad_f1(prediction, truth):
    p, t = _squad_normalize(prediction).split(), _squad_normalize(truth).split()
    common = collections.Counter(p) & collections.Counter(t)
    same = sum(common.values())
    if same == 0:
        return 0
    precision, recall = 1.0 * same / len(p), 1.0 * same / len(t)
    return (2 * precision * recall) / (precision + recall)


def _squad_reference(predictions, references):
    em = sum(max(float(_squad_normalize(p) == _squad_normalize(g)) for g in gs) for p, gs in zip(predictions, references))
    f1 = sum(max(_squad_f1(p, g) for g in gs) for p, gs in zip(predictions, references))
    return 100.0 * em / len(predictions), 100.0 * f1 / len(predictions)


SQUAD_CASES = [
    ("Denver Broncos", ["Denver Broncos", "The Denver Broncos"]),
    ("the Broncos", ["Denver Broncos"]),
    ("1856.", ["1856"]),
    ("Nikola Tesla, the inventor", ["Tesla"]),
    ("", ["Santa Clara"]),
    ("an apple a day", ["Apple"]),
]


def test_squad_matches_official_logic_on_fixed_and_random_cases():
    rng = random.Random(0)
    words = ["the", "a", "Denver", "Broncos", "1856", "Tesla,", "inventor.", "AC", "power", "an"]
    cases = list(SQUAD_CASES) + [
        (" ".join(rng.choices(words, k=rng.randint(0, 5))), [" ".join(rng.choices(words, k=rng.randint(1, 4))) for _ in range(2)])
        for _ in range(200)
    ]
    preds, refs = [c[0] for c in cases], [c[1] for c in cases]
    got = metrics.load("squad").compute(predictions=preds, references=refs)
    em, f1 = _squad_reference(preds, refs)
    assert got["exact_match"] == pytest.approx(em) and got["f1"] == pytest.approx(f1)
    fixed = metrics.load("squad").compute(predictions=["the Broncos"], references=[["Denver Broncos"]])
    assert fixed["exact_match"] == 0.0 and fixed["f1"] == pytest.approx(100 * 2 / 3)


# -- CMRC 2018 ----------------------------------------------------------------------------
# The official cmrc2018_evaluate.py logic as the oracle (Python 3; NLTK's Treebank word
# tokenizer stands in for word_tokenize, whose punkt model cannot be downloaded here).
_SP = ['-', ':', '_', '*', '^', '/', '\\', '~', '`', '+', '=', '，', '。', '：', '？', '！', '“', '”', '；', '’', '《',
       '》', '……', '·', '、', '「', '」', '（', '）', '－', '～', '『', '』']


def _cmrc_segment(in_str, rm_punc=False):
    in_str = str(in_str).lower().strip()
    segs_out, temp_str = [], ""
    for char in in_str:
        if rm_punc and char in _SP:
            continue
        if re.search("[\u4e00-\u9fa5]", char) or char in _SP:
            if temp_str != "":
                segs_out.extend(NLTKWordTokenizer().tokenize(temp_str))
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        segs_out.extend(NLTKWordTokenizer().tokenize(temp_str))
    return segs_out


def _cmrc_find_lcs(s1, s2):
    m = [[0 for _ in range(len(s2) + 1)] for _ in range(len(s1) + 1)]
    mmax, p = 0, 0
    for i in range(len(s1)):
        for j in range(len(s2)):
            if s1[i] == s2[j]:
                m[i + 1][j + 1] = m[i][j] + 1
                if m[i + 1][j + 1] > mmax:
                    mmax, p = m[i + 1][j + 1], i + 1
    return s1[p - mmax:p], mmax


def _cmrc_reference(predictions, references):
    f1 = em = 0.0
    for prediction, answers in zip(predictions, references):
        scores = []
        for ans in answers:
            a, p = _cmrc_segment(ans, True), _cmrc_segment(prediction, True)
            _, n = _cmrc_find_lcs(a, p)
            scores.append(0 if n == 0 else 2 * (n / len(p)) * (n / len(a)) / (n / len(p) + n / len(a)))
        f1 += max(scores)
        strip = lambda s: "".join(ch for ch in str(s).lower().strip() if ch not in _SP)  # noqa: E731
        em += any(strip(ans) == strip(prediction) for ans in answers)
    return 100.0 * em / len(predictions), 100.0 * f1 / len(predictions)


CMRC_CASES = [
    ("30,000种", ["30,000种", "30,000种"]),
    ("约30,000种", ["30,000种"]),
    ("《红楼梦》", ["红楼梦"]),
    ("林登·强森总统", ["林登强森", "民權法案"]),
    ("", ["北京"]),
    ("Apple公司的iPhone", ["iPhone"]),
    ("1964年", ["1964年7月2日"]),
    ("北京大学", ["清华大学"]),
]


def test_cmrc2018_matches_official_logic_on_fixed_and_random_cases():
    rng = random.Random(1)
    alphabet = list("北京天安门广场大学年月日的是") + ["AC ", "power ", "1964", "，", "。", "-", "《", "》", " "]
    cases = list(CMRC_CASES) + [
        ("".join(rng.choices(alphabet, k=rng.randint(0, 8))), ["".join(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(2)])
        for _ in range(300)
    ]
    cases = [(p, [g for g in gs if _cmrc_segment(g, True)] or ["北京"]) for p, gs in cases]
    preds, refs = [c[0] for c in cases], [c[1] for c in cases]
    got = metrics.load("cmrc2018").compute(predictions=preds, references=refs)
    em, f1 = _cmrc_reference(preds, refs)
    assert got["exact_match"] == pytest.approx(em) and got["f1"] == pytest.approx(f1)


def test_cmrc2018_fixed_values_by_hand():
    m = metrics.load("cmrc2018")
    # "约30,000种" -> [约, 30,000, 种]; gold [30,000, 种]: LCS 2, P 2/3, R 1 -> F1 0.8
    r = m.compute(predictions=["约30,000种"], references=[["30,000种"]])
    assert r["f1"] == pytest.approx(80.0) and r["exact_match"] == 0.0
    # EM ignores the official punctuation list: 《红楼梦》 == 红楼梦
    assert m.compute(predictions=["《红楼梦》"], references=[["红楼梦"]])["exact_match"] == 100.0
    # contiguous: 北京大学 vs 清华大学 share "大学" only -> F1 0.5 (a bag-of-chars F1 would agree here, ...)
    assert m.compute(predictions=["北京大学"], references=[["清华大学"]])["f1"] == pytest.approx(50.0)
    # ... but not here: 学大 shares both characters with 大学 yet the longest common run is 1
    assert m.compute(predictions=["学大"], references=[["大学"]])["f1"] == pytest.approx(50.0)


# -- classification -----------------------------------------------------------------------
def _macro_f1_reference(preds, refs):
    scores = []
    for c in sorted(set(preds) | set(refs)):
        tp = sum(p == c and r == c for p, r in zip(preds, refs))
        fp = sum(p == c and r != c for p, r in zip(preds, refs))
        fn = sum(p != c and r == c for p, r in zip(preds, refs))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return 100 * sum(scores) / len(scores)


def test_classification_accuracy_and_macro_f1():
    m = metrics.load("classification")
    r = m.compute(predictions=[0, 0, 1, 2], references=[0, 1, 1, 1])
    # class 0: P 1/2 R 1 F 2/3; class 1: P 1 R 1/3 F 1/2; class 2: F 0
    assert r["accuracy"] == 50.0 and r["macro_f1"] == pytest.approx(100 * (2 / 3 + 1 / 2) / 3)
    rng = random.Random(2)
    for _ in range(20):
        refs = [rng.randrange(5) for _ in range(40)]
        preds = [rng.randrange(5) for _ in range(40)]
        assert m.compute(predictions=preds, references=refs)["macro_f1"] == pytest.approx(_macro_f1_reference(preds, refs))


# -- the input forms of the Hub modules of the same name ----------------------------------------
# Each form is checked against the reference package (sacrebleu, rouge-score) or the official
# SQuAD logic above, never against another call of our own module.
def test_sacrebleu_takes_one_reference_string_per_prediction_and_the_hub_options():
    refs = [r[0] for r in REFS_EN]
    got = metrics.load("sacrebleu").compute(predictions=HYPS_EN, references=refs)
    assert got["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS_EN, [refs]).score, abs=1e-9)
    options = dict(smooth_method="floor", smooth_value=0.2, lowercase=True, use_effective_order=True)
    got = metrics.load("sacrebleu").compute(predictions=HYPS_EN, references=refs, **options)
    expected = sacrebleu.BLEU(smooth_method="floor", smooth_value=0.2, lowercase=True, effective_order=True)
    assert got["bleu"] == pytest.approx(expected.corpus_score(HYPS_EN, [refs]).score, abs=1e-9)
    assert got["signature"] == str(expected.get_signature())


def test_chrf_takes_one_reference_string_per_prediction_and_the_hub_options():
    refs = [r[0] for r in REFS_ZH]
    got = metrics.load("chrf").compute(predictions=HYPS_ZH, references=refs)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS_ZH, [refs]).score, abs=1e-9)
    options = dict(char_order=4, word_order=2, beta=1, lowercase=True, whitespace=True, eps_smoothing=True)
    got = metrics.load("chrf").compute(predictions=HYPS_EN, references=[r[0] for r in REFS_EN], **options)
    expected = sacrebleu.CHRF(**options).corpus_score(HYPS_EN, [[r[0] for r in REFS_EN]]).score
    assert got["chrf"] == pytest.approx(expected, abs=1e-9)


def test_rouge_takes_reference_strings_a_tokenizer_function_and_use_aggregator():
    refs = [r[0] for r in REFS_SUM_EN]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    expected = {k: [100 * scorer.score(r, p)[k].fmeasure for p, r in zip(SUMS_EN, refs)] for k in ("rouge1", "rouge2", "rougeL")}
    got = metrics.load("rouge").compute(predictions=SUMS_EN, references=refs, use_stemmer=True)
    for key, values in expected.items():
        assert got[key] == pytest.approx(sum(values) / len(values))
    lists = metrics.load("rouge").compute(predictions=SUMS_EN, references=refs, use_stemmer=True, use_aggregator=False)
    assert {k: pytest.approx(v) for k, v in expected.items()} == lists

    class Words:  # rouge-score's own interface for a custom tokenizer
        def tokenize(self, text):
            return text.lower().split()

    got = metrics.load("rouge").compute(predictions=SUMS_EN, references=refs, tokenizer=lambda t: t.lower().split())
    plain = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Words())
    assert got["rougeL"] == pytest.approx(sum(100 * plain.score(r, p)["rougeL"].fmeasure for p, r in zip(SUMS_EN, refs)) / 2)


def test_squad_takes_the_hub_squad_dict_form():
    ids = [f"q{i}" for i in range(len(SQUAD_CASES))]
    predictions = [{"id": i, "prediction_text": p} for i, (p, _) in zip(ids, SQUAD_CASES)][::-1]  # matched by id
    references = [{"id": i, "answers": {"text": golds, "answer_start": [0] * len(golds)}} for i, (_, golds) in zip(ids, SQUAD_CASES)]
    got = metrics.load("squad").compute(predictions=predictions, references=references)
    em, f1 = _squad_reference([p for p, _ in SQUAD_CASES], [g for _, g in SQUAD_CASES])
    assert got["exact_match"] == pytest.approx(em) and got["f1"] == pytest.approx(f1)
    single = metrics.load("squad").compute(predictions=["the Broncos"], references=["Denver Broncos"])
    assert single["f1"] == pytest.approx(100 * _squad_f1("the Broncos", "Denver Broncos"))
