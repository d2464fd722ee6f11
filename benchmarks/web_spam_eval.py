"""Chinese web spam and soft-404 pages: what `pipelines.web.spam` catches, and what it costs.

(a) The real Common Crawl excerpt (warc_samples/cc_resiliparse/warcfile.warc.gz, CC-MAIN-2020-34):
    every HTML response decoded (`pipelines.web.decode.decode_html`: GB2312/GBK read as GB18030),
    its main text and title extracted with trafilatura, then judged page by page: the spam
    verdict and why, the existing DocumentProcessor's verdict without the spam step, and a
    reader's verdict (READER below: written after reading each page, not computed).
(b) Planted spam in real clean text: the clean texts of benchmarks/quality_eval.py
    (roots_measure.data.clean_items) plus clean web pages (web_extraction references, news
    titles, shop reviews).
    A fixed share of the documents gets spam lines inserted at random line positions
    (gambling, porn; lines copied from the CC excerpt's spam pages, "cc", or written for this
    benchmark, "written"), at several doses; soft-404 pages are made of a few real clean lines
    around a not-found message. Reported: recall per kind and dose, false positives on the
    untouched clean texts per source, and the retention of quality_eval's clean groups by the
    pipeline with and without the spam step.

    python benchmarks/web_spam_eval.py [--json OUT.json] [--no-pipeline] [--limit N]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path


from pipelines.datadir import dataset_path
from pipelines.web.spam import SpamThresholds, spam_verdict
from roots_measure.data import clean_items, corpus
from roots_measure.web_spam import cc_pages

# A reader's verdict on each HTML response of the excerpt (spam / soft_404 / not_spam), from
# reading the decoded page and its extracted text. "keep" says whether a reader keeps the text
# for a corpus at all (not_spam pages can still be junk for other filters).
READER = {
    "http://003338.cn/l41/481397.html": ("spam", "gambling doorway: scraped news, each character in 【】, title '澳洲28是不是正规的' as mojibake"),
    "http://01spb.ru/company/": ("not_spam", "Russian fire-safety company page"),
    "http://035.psb556.com/24/i/u_1090813/article.html": ("soft_404", "'页面地址不存在' page of a gambling site, casino link list"),
    "http://037426.cn/": ("spam", "hijacked site: porn title '亚洲精品无码免费视频', English rubber-company blurb"),
    "http://041696.com/15477/list_6_4.html": ("spam", "Mark Six (六合彩) tip list"),
    "http://044545.com/topic/20200207/015849.html": ("spam", "gambling promotion: '充值300...100本金包赔', Mark Six tips"),
    "http://0513mt.com/index.php/art/detail/id/8884.html": ("spam", "adult story site ('严选免费成人小说')"),
    "http://05925.net/index.php/vod/type/id/53.html": ("spam", "porn video site disclaimer under a porn title"),
    "http://06.live-radsport.ch/fahrerstatistik_801/Anthony_Ravard.html": ("not_spam", "German cycling stats, a database error"),
    "http://06.live-radsport.ch/tippspiel/stats_140_petzi.html": ("not_spam", "German cycling tipping-game stats table"),
    "http://0615235.com/02mjqjo%7Bibotij2.btq?odmbtt=106&tdmbtt=121": ("not_spam", "Shanghai gift company product list"),
    "http://0755krk.com/76104/list_4_1.html": ("spam", "Mark Six tip list on a hijacked company site"),
    "http://0760.jxtdw.com/area/sanxiang/": ("not_spam", "job listings of a Zhongshan job board"),
    "http://077678u.info/erxiaoshujinguang/list_6_2.html": ("spam", "Mark Six tip site ('二肖输尽光')"),
    "http://0900-hovenier.nl/gelderland/oosterbeek/": ("not_spam", "Dutch gardener page"),
    "http://096355.com/video/11073.html?11073-0-2": ("spam", "porn video page"),
}


# ----------------------------------------------------------------------------- (a) CC pages

def _pipeline():
    from pipelines.config import PipelineConfig
    from pipelines.process import DocumentProcessor

    p = DocumentProcessor(PipelineConfig.load())
    p.setup()
    return p


def _doc(i, text, url=None):
    return {"id": f"ws-{i}", "key": f"ws-{i}", "text": text, "source": "web_spam_eval", "url": url, "lang": None,
            "lang_score": None, "input_file": "web_spam_eval", "boilerplate_lines_removed": 0, "signals": None}


def eval_cc(processor=None, thresholds=SpamThresholds()) -> list[dict]:
    rows = []
    for i, pg in enumerate(cc_pages()):
        doc = _doc(i, pg["text"], pg["url"])
        pipe = processor(doc) if processor else None
        v = spam_verdict(pg["text"], pg["title"], pg["url"], doc.get("lang"), thresholds)
        reader, note = READER.get(pg["url"], ("?", ""))
        rows.append({"url": pg["url"], "lang": doc.get("lang"), "chars": len(pg["text"]), "encoding": pg["encoding"],
                     "title": pg["title"], "spam": v.reason, "score": round(v.score, 1), "why": v.why,
                     "pipeline": pipe or "kept", "reader": reader, "reader_note": note,
                     "with_step": pipe or v.reason or "kept"})
    return rows


def print_cc(rows: list[dict]) -> None:
    print("(a) Common Crawl excerpt, HTML responses (trafilatura main text)")
    print(f"{'url':52s} {'lang':4s} {'chars':>5s}  {'pipeline today':16s} {'spam step':18s} {'reader':9s} why")
    for r in rows:
        print(f"{r['url'][:52]:52s} {str(r['lang'])[:4]:4s} {r['chars']:5d}  {r['pipeline']:16s} {str(r['spam']):18s} "
              f"{r['reader']:9s} {r['why'][:90]}")
    spam = [r for r in rows if r["reader"] in ("spam", "soft_404")]
    clean = [r for r in rows if r["reader"] == "not_spam"]
    kept_today = [r["url"] for r in spam if r["pipeline"] == "kept"]
    print(f"\nreader's spam pages: {len(spam)}; kept by the pipeline today: {len(kept_today)} {kept_today}")
    print(f"caught by the spam step alone: {sum(bool(r['spam']) for r in spam)}/{len(spam)}; "
          f"kept by pipeline + step: {sum(r['with_step'] == 'kept' for r in spam)}")
    print(f"reader's not-spam pages flagged by the step: {sum(bool(r['spam']) for r in clean)}/{len(clean)}")


# ----------------------------------------------------------------------------- (b) planted
# Lines copied from the spam pages of the CC excerpt (real spam, what the word list was read from).
CC_LINES = {
    "gambling": [
        "好消息！好消息！好消息！新一轮的赔付活动继续上线，充值300，600、1000计划跟上，赚取一倍流水，即可提现带走",
        "计划出现问题，100本金包赔微信转账即刻到账！添加下方QQ操作即可",
        "精准计划 敬请关注245757.com 内有完美资料群，让大家数钱数到手抽筋 加QQ拉你进群：215138693",
        "2020-03-24 admin 79状元红高手坛567722com 六合彩网上怎么投注",
        "2020-06-30 jingmizhuzao 101今期管家婆彩图大全 今期6合开奖结果查询",
        "菲律宾申博娱乐网登入 永乐国际官网登录最高占成 红树林游戏会员现金网",
        "4887铁算盘一句解特马彩图原题目：朝韩美能在不中国参加情形下",
        "40222赌王心水一肖推倒和打散这就是跟生",
    ],
    "porn": [
        "严选免费成人小说 巨乳菲佣 我隔壁住着一个身材高挑的美眉 我上了漂亮的女经理",
        "偷拍自拍 制服丝袜 亚洲情色 欧美性爱 无码专区 强奸乱伦 人气女优",
        "在线看免费观看日本Av_一本道av不卡免费播放",
        "亚洲精品无码免费视频 亚洲精品无码免费视频 含羞草视频独家共享",
        "欧美色图_亚洲日本香蕉视频观看视频_日本高清免费一本视频_天天狠天天透天天爱",
    ],
}
# Lines written for this benchmark in the style of such spam (ads, link lines, promotions).
WRITTEN_LINES = {
    "gambling": [
        "澳门威尼斯人线上娱乐，真人百家乐、老虎机、捕鱼游戏，新用户注册即送88元彩金",
        "北京赛车PK10、重庆时时彩人工计划，稳赚不赔，加微信带你上岸",
        "皇冠体育足球投注，赔率全网最高，首充100送100，提款秒到账",
        "新葡京娱乐城官网 www.xpj7788.com 开户即送38元，日返水1.2%",
        "全网最全六合彩资料，今晚开什么特码？三肖六码，点击进入心水论坛",
        "正规网投平台推荐：金沙娱乐、太阳城、申博，信誉第一，24小时出款",
    ],
    "porn": [
        "同城交友约炮，美女主播裸聊一对一，点击下载APP",
        "日韩无码高清在线观看，每日更新，人妻熟女永久免费",
        "成人影院 免费观看最新三级片 国产自拍偷拍视频 av女优合集",
        "激情小说 乱伦小说 人妻小说 每日更新 www.seqing520.com",
        "夜夜撸福利视频，狼友必备，未满18岁请离开",
    ],
}
NOT_FOUND_MESSAGES = [
    "抱歉，您访问的页面不存在或已被删除。",
    "404 Not Found：页面未找到，请检查网址是否正确。",
    "很抱歉，您要找的页面已经不存在了，3秒后自动返回首页。",
    "对不起，该文章已被删除或不存在！",
    "Sorry, the page you are looking for could not be found.",
    "Error 404: the requested URL was not found on this server.",
]
DOSES = (1, 2, 4, "half")


def clean_docs(limit: int | None = None) -> list[dict]:
    """quality_eval's clean texts (group = its retention group) and more clean web text."""
    docs_all = corpus()
    docs = [{"text": c["text"], "source": c["source"], "group": c["group"], "url": None, "qe": True}
            for c in clean_items(docs_all)]
    for d in docs_all:
        if d["source"] in ("zh-news-titles", "zh-ecommerce-reviews", "web-trafilatura-eval",
                           "web-article-extraction-benchmark", "cc-ccnet-en"):
            docs.append({"text": d["text"], "source": d["source"], "group": "extra", "url": d.get("url"), "qe": False})
    for line in (dataset_path("web_extraction") / "pages.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        if r.get("reference"):
            docs.append({"text": r["reference"], "source": "web_extraction-" + r["set"], "group": "extra",
                         "url": r.get("url"), "qe": False})
    if limit:
        per = Counter()
        docs = [d for d in docs if (per.update([d["source"]]) or per[d["source"]] <= limit)]
    return docs


def _plant(rng: random.Random, text: str, lines: list[str], dose) -> str:
    body = text.split("\n")
    if dose == "half":
        spam, n = [], 0
        while n < len(text):
            s = rng.choice(lines)
            spam.append(s)
            n += len(s)
    else:
        spam = [rng.choice(lines) for _ in range(dose)]
    for s in spam:
        body.insert(rng.randint(0, len(body)), s)
    return "\n".join(body)


def planted(docs: list[dict], share: float = 0.3, seed: int = 29) -> list[dict]:
    rng = random.Random(seed)
    out = []
    hosts = [d for d in docs if d["group"] != "extra" or d["source"].startswith("web_extraction")]
    for d in rng.sample(hosts, int(share * len(hosts))):
        lang = "en" if d["group"] == "en" or d["source"].endswith("_en") else "zh"
        for pool_name, pool in (("cc", CC_LINES), ("written", WRITTEN_LINES)):
            for kind, lines in pool.items():
                dose = rng.choice(DOSES)
                out.append({"text": _plant(rng, d["text"], lines, dose), "kind": kind, "pool": pool_name,
                            "dose": str(dose), "host_lang": lang, "chars": len(d["text"]), "title": None, "url": None})
        # A soft-404 page: a few real lines (a site's menu and teasers) around a not-found message.
        sents = [s for s in re.split(r"(?<=[。！？.!?])\s*", d["text"]) if 4 <= len(s) <= 40]
        nav = rng.sample(sents, min(len(sents), rng.randint(0, 6)))
        msg = rng.choice(NOT_FOUND_MESSAGES)
        where = rng.choice(["text", "title"])
        text = "\n".join(nav[:3] + ([msg] if where == "text" else []) + nav[3:])
        out.append({"text": text or "返回首页", "kind": "soft_404", "pool": "written", "dose": where,
                    "host_lang": lang, "chars": len(d["text"]),
                    "title": msg if where == "title" else None, "url": None})
    return out


def eval_planted(docs: list[dict], thresholds=SpamThresholds(), processor=None) -> dict:
    res: dict = {"recall": {}, "false_positives": {}, "retention": {}}
    rec = defaultdict(lambda: [0, 0])
    for p in planted(docs):
        v = spam_verdict(p["text"], p["title"], p["url"], None, thresholds)
        hit = v.reason is not None and (v.reason == "soft_404") == (p["kind"] == "soft_404")
        for key in ((p["kind"], "all"), (p["kind"], f"pool={p['pool']}"), (p["kind"], f"dose={p['dose']}"),
                    (p["kind"], f"host={p['host_lang']}")):
            rec[key][0] += 1
            rec[key][1] += hit
    res["recall"] = {f"{k} {c}": {"n": n, "recall": round(h / n, 4)} for (k, c), (n, h) in sorted(rec.items())}
    fp = defaultdict(lambda: [0, 0, Counter()])
    flagged = []
    for d in docs:
        v = spam_verdict(d["text"], None, d["url"], None, thresholds)
        fp[d["source"]][0] += 1
        if v.reason:
            fp[d["source"]][1] += 1
            fp[d["source"]][2][v.reason] += 1
            flagged.append({"source": d["source"], "reason": v.reason, "why": v.why, "text": d["text"][:160]})
        d["_spam"] = v.reason
    res["false_positives"] = {s: {"n": n, "flagged": k, "rate": round(k / n, 5), "reasons": dict(c)}
                              for s, (n, k, c) in sorted(fp.items())}
    res["flagged_clean"] = flagged
    if processor is not None:
        ret = defaultdict(lambda: [0, 0, 0])
        for i, d in enumerate(x for x in docs if x["qe"]):
            kept = processor(_doc(i, d["text"])) is None
            r = ret[d["group"]]
            r[0] += 1
            r[1] += kept
            r[2] += kept and not d["_spam"]
        res["retention"] = {g: {"n": n, "pipeline": round(k / n, 4), "pipeline+spam": round(k2 / n, 4)}
                            for g, (n, k, k2) in sorted(ret.items())}
    return res


def print_planted(res: dict) -> None:
    print("\n(b) planted spam in real clean text: recall")
    print(f"  {'kind / slice':40s} {'n':>6s} {'recall':>7s}")
    for k, e in res["recall"].items():
        print(f"  {k:40s} {e['n']:6d} {e['recall']:7.3f}")
    print("\n    false positives on untouched clean text (no title, no URL unless the source has one)")
    print(f"  {'source':40s} {'n':>6s} {'flagged':>7s} {'rate':>8s}")
    for s, e in res["false_positives"].items():
        print(f"  {s:40s} {e['n']:6d} {e['flagged']:7d} {e['rate']:8.5f}  {e['reasons'] or ''}")
    for f in res["flagged_clean"]:
        print(f"    flagged: [{f['source']}] {f['reason']} {f['why'][:80]} | {f['text'][:70]!r}")
    if res["retention"]:
        print("\n    retention of quality_eval's clean groups (all halves)")
        print(f"  {'group':40s} {'n':>6s} {'pipeline':>9s} {'+spam':>7s}")
        for g, e in res["retention"].items():
            print(f"  {g:40s} {e['n']:6d} {e['pipeline']:9.4f} {e['pipeline+spam']:7.4f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the DocumentProcessor runs")
    ap.add_argument("--limit", type=int, help="at most this many clean texts per source (a quick slice)")
    args = ap.parse_args(argv)
    t0 = time.time()
    processor = None if args.no_pipeline else _pipeline()
    cc = eval_cc(processor)
    print_cc(cc)
    res = eval_planted(clean_docs(args.limit), processor=processor)
    print_planted(res)
    print(f"\n{time.time() - t0:.0f} s; thresholds {SpamThresholds()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cc": cc, **res, "thresholds": dataclasses.asdict(SpamThresholds())},
                                              ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
