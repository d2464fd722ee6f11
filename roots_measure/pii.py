"""PII redaction precision and recall on a planted set built from real text.

Real sentences (Chinese news titles, reviews, paper abstracts, Wikipedia paragraphs in
Simplified and Traditional script; English news, Wikipedia, SQuAD contexts) from
$ROOTS_DATA_DIR get one planted item each, inside a sentence frame ("联系电话：{}",
"Call us at {}.") or bare between two sentences:

- positives of every kind, generated: Chinese mobiles in every written form, landlines,
  international and North American numbers, emails (QQ-number addresses too), resident IDs
  with a correct check character and birth date, Luhn-valid card numbers of real issuer
  prefixes, global IPv4 and IPv6 addresses;
- near-miss negatives: IDs with a wrong check character or an impossible date, cards that
  fail Luhn, date-prefixed order numbers, Unix timestamps, dates, prices, version numbers,
  private IPs, 11-digit numbers that are not mobiles, numeric ids inside URLs, times/scores.

A detection counts as a true positive when it covers a planted span of its kind; any other
detection (on a negative or on the real text around it) is a false positive of its kind.
Detections on the unplanted real text are listed so a reader can judge them.

benchmarks/pii_eval.py prints the report; tests/pipelines/test_pii.py checks a planted set.
"""
from __future__ import annotations

import datetime
import ipaddress
import random
import re
import time

from pipelines.datadir import dataset_path
from pipelines.files import read_jsonl
from pipelines.text.pii import KINDS, cn_id_check_char, find_pii, luhn_check_digit


_SENT_END = re.compile(r"(?<=[。！？!?；])|(?<=\.)\s+")

# ---------------------------------------------------------------------------------------------
# Real text


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_END.split(text) if s and 8 <= len(s.strip()) <= 160]


def base_sentences(max_per_source: int = 400) -> dict[str, list[str]]:
    """Real sentences by language ("zh", "en"), a fixed share from each source."""
    out: dict[str, list[str]] = {"zh": [], "en": []}

    def add(lang, texts):
        got = []
        for t in texts:
            got += _sentences(t)
            if len(got) >= max_per_source:
                break
        out[lang] += got[:max_per_source]

    add("zh", (r["text"] for r in read_jsonl(dataset_path("cls_thucnews_titles") / "dev.jsonl")))
    add("zh", (r["text"] for r in read_jsonl(dataset_path("cls_chnsenticorp") / "dev.jsonl")))
    add("zh", (r["context"] for r in read_jsonl(dataset_path("qa_drcd") / "dev.jsonl", 300)))  # Traditional
    add("zh", (r["context"] for r in read_jsonl(dataset_path("qa_cmrc2018_dev") / "dev.jsonl", 300)))
    add("en", (r["text"] for r in read_jsonl(dataset_path("cls_agnews") / "test.jsonl")))
    add("en", (r["context"] for r in read_jsonl(dataset_path("qa_squad_v1.1_dev") / "dev.jsonl", 300)))
    corpus = sorted(dataset_path("corpus_web_mixed").glob("*.jsonl"))[0]
    docs = list(read_jsonl(corpus))
    add("zh", (d["text"] for d in docs if d["source"] in ("zh-paper-abstracts", "zh-wiki-paragraphs")))
    add("en", (d["text"] for d in docs if d["source"] == "wiki-en"))
    return out


# ---------------------------------------------------------------------------------------------
# Generators

_MOBILE_PREFIXES = [*range(130, 140), 145, 147, *range(150, 154), *range(155, 160), 166, *range(170, 179),
                    *range(180, 190), 191, 198, 199]
_AREAS = ["010", "021", "020", "022", "023", "024", "025", "027", "028", "029", "0755", "0571", "0532", "0731",
          "0851", "0371", "0591"]
_ID_AREAS = ["110101", "110105", "310104", "310115", "440305", "440106", "330106", "510107", "420106", "320102",
             "370102", "610113", "500103", "210102", "350203", "430104", "120101", "650102", "810000", "710000"]
_CARD_IINS = [("622202", 19), ("621700", 19), ("622848", 19), ("621483", 16), ("622588", 16), ("625807", 16),
              ("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("37", 15), ("3528", 16), ("6011", 16)]
_LOCALS = ["zhang.wei", "li_na88", "wangfang", "liu.yang1990", "chen.jing", "john.smith", "mary.j", "a.kumar",
           "service", "hr-dept", "yang.xiaoming+news"]
_DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com.cn", "pku.edu.cn",
            "tsinghua.edu.cn", "huawei.com", "company.com.cn", "uni-heidelberg.de", "yahoo.co.jp", "mail.ru"]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def gen_mobile(rng):
    num = f"{rng.choice(_MOBILE_PREFIXES)}{_digits(rng, 8)}"
    a, b, c = num[:3], num[3:7], num[7:]
    return rng.choice([num, num, f"{a} {b} {c}", f"{a}-{b}-{c}", f"+86 {num}", f"+86-{a}-{b}-{c}",
                       f"0086 {num}", f"(+86){num}", f"+86{num}"])


def gen_landline(rng):
    area = rng.choice(_AREAS)
    local = str(rng.randint(2, 9)) + _digits(rng, 7 if len(area) == 3 else rng.choice([6, 7]))
    split = f"{local[:4]} {local[4:]}" if rng.random() < 0.2 else local
    form = rng.choice([f"{area}-{split}", f"({area}){local}", f"（{area}）{local}", f"+86 {area[1:]} {local}",
                       f"{area} {local}", f"{area}-{local}转{rng.randint(100, 9999)}"])
    return form


def gen_intl(rng):
    return rng.choice([
        f"+1 {rng.randint(201, 989)}-{rng.randint(200, 999)}-{_digits(rng, 4)}",
        f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{_digits(rng, 4)}",
        f"+44 20 {rng.randint(7000, 8999)} {_digits(rng, 4)}",
        f"+49 30 {_digits(rng, 8)}", f"+81 3-{_digits(rng, 4)}-{_digits(rng, 4)}",
        f"+33 1 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
        f"+61 2 {_digits(rng, 4)} {_digits(rng, 4)}", f"+852 {rng.randint(2, 9)}{_digits(rng, 3)} {_digits(rng, 4)}",
        f"+886 2 {_digits(rng, 4)} {_digits(rng, 4)}",
        f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{_digits(rng, 4)}",
        f"{rng.randint(201, 989)}-{rng.randint(200, 999)}-{_digits(rng, 4)}",
    ])


def gen_phone(rng):
    r = rng.random()
    return gen_mobile(rng) if r < 0.5 else gen_landline(rng) if r < 0.75 else gen_intl(rng)


def gen_email(rng):
    local = rng.choice(_LOCALS) if rng.random() < 0.7 else str(rng.randint(10000, 3999999999))  # QQ numbers
    return f"{local}@{rng.choice(_DOMAINS)}"


def _birth(rng) -> str:
    d = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randint(0, 70 * 365))
    return d.strftime("%Y%m%d")


def gen_id(rng):
    body = rng.choice(_ID_AREAS) + _birth(rng) + _digits(rng, 3)
    return body + cn_id_check_char(body)


def gen_id_bad_checksum(rng):
    good = gen_id(rng)
    return good[:17] + rng.choice([c for c in "0123456789X" if c != good[17]])


def gen_id_bad_date(rng):
    body = rng.choice(_ID_AREAS) + rng.choice(["19990230", "20010431", "19851332", "19800000", "21500101"]) + _digits(rng, 3)
    return body + cn_id_check_char(body)  # right check character, impossible or future date


def _card_digits(rng):
    iin, n = rng.choice(_CARD_IINS)
    payload = iin + _digits(rng, n - len(iin) - 1)
    return payload + luhn_check_digit(payload)


def _group(d: str, rng) -> str:
    if rng.random() < 0.6:
        return d
    sep = rng.choice([" ", "-"])
    if len(d) == 15:
        return sep.join([d[:4], d[4:10], d[10:]])
    return sep.join(d[i:i + 4] for i in range(0, len(d), 4))


def gen_card(rng):
    return _group(_card_digits(rng), rng)


def gen_card_bad_luhn(rng):
    d = _card_digits(rng)
    return _group(d[:-1] + str((int(d[-1]) + rng.randint(1, 9)) % 10), rng)


def gen_ip(rng):
    if rng.random() < 0.25:
        # Real allocations (China Unicom, China Telecom, CERNET, Google Europe, Cloudflare); some
        # with a run of zero groups so that the compressed "::" form is planted too.
        groups = [rng.getrandbits(16) for _ in range(6)]
        if rng.random() < 0.5:
            groups[2:5] = [0, 0, 0]
        head = rng.choice([0x24088207, 0x240E0001, 0x20010DA8, 0x2A001450, 0x26064700])
        return str(ipaddress.IPv6Address(head << 96 | sum(g << (16 * (5 - i)) for i, g in enumerate(groups))))
    while True:
        ip = ipaddress.IPv4Address(rng.getrandbits(32))
        if ip.is_global:
            return str(ip)


POSITIVES = {"phone": gen_phone, "email": gen_email, "id_number": gen_id, "bank_card": gen_card, "ip": gen_ip}

NEGATIVES = {
    "id_bad_checksum": (gen_id_bad_checksum, "id_number"),
    "id_bad_date": (gen_id_bad_date, "id_number"),
    "card_bad_luhn": (gen_card_bad_luhn, "bank_card"),
    "order_number": (lambda r: f"{r.randint(2015, 2025)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
                               f"{_digits(r, r.randint(8, 12))}", "order"),
    "timestamp": (lambda r: str(r.randint(946684800, 1893456000)) + (_digits(r, 3) if r.random() < 0.5 else ""), "time"),
    "date": (lambda r: r.choice([f"{r.randint(1990, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                                 f"{r.randint(1990, 2025)}年{r.randint(1, 12)}月{r.randint(1, 28)}日",
                                 f"{r.randint(1990, 2025)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}",
                                 f"{r.randint(1990, 2025)}/{r.randint(1, 12):02d}/{r.randint(1, 28):02d} "
                                 f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"]), "time"),
    "price": (lambda r: r.choice([f"¥{r.randint(100, 99999)}.{_digits(r, 2)}", f"{r.randint(1000, 99999)}元",
                                  f"${r.randint(1, 999)},{_digits(r, 3)}.{_digits(r, 2)}",
                                  f"{r.randint(1, 99)},{_digits(r, 3)},{_digits(r, 3)}元"]), "price"),
    "version": (lambda r: r.choice(["v", "version ", "版本 ", "Ver. "]) +
                          ".".join(str(r.randint(0, 20)) for _ in range(4)), "version"),
    "private_ip": (lambda r: r.choice([f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}",
                                       f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                                       "127.0.0.1", f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}"]),
                   "ip"),
    "not_a_mobile": (lambda r: r.choice(["10", "11", "12"]) + _digits(r, 9), "phone"),
    "url_numeric_id": (lambda r: r.choice(["https://www.toutiao.com/a/", "https://item.jd.com/",
                                           "http://news.sina.com.cn/c/"]) + _card_digits(r)[:r.choice([11, 16, 19])]
                       + r.choice(["/", ".html", ""]), "url"),
    "time_or_score": (lambda r: r.choice([f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
                                          f"{r.randint(0, 9)}:{r.randint(0, 9)}", f"{r.randint(1, 9)}.{_digits(r, 9)}"]),
                      "time"),
}

_FRAMES = {
    ("zh", "phone"): ["联系电话：{}。", "如有疑问请致电{}咨询。", "请拨打{}", "聯絡電話：{}", "手机{}"],
    ("zh", "email"): ["简历请发送至{}，", "邮箱：{}", "请发邮件到{}联系我们。", "電子郵件：{}"],
    ("zh", "id_number"): ["身份证号码为{}。", "证件号{}", "身分證字號：{}"],
    ("zh", "bank_card"): ["请转账至银行卡{}。", "卡号：{}", "开户账号{}"],
    ("zh", "ip"): ["服务器地址为{}，", "来自IP {}的访问", "登录IP：{}"],
    ("en", "phone"): ["Call us at {}.", "Phone: {}", "please ring {} today"],
    ("en", "email"): ["Contact {} for details.", "email: {}", "Write to {}."],
    ("en", "id_number"): ["Chinese ID number {}.", "ID: {}"],
    ("en", "bank_card"): ["card number {}", "Pay with {}."],
    ("en", "ip"): ["from IP address {}", "Server {} responded."],
}
# Negatives sit in the frame of the kind they imitate, the hardest place for them.
_NEG_FRAME_KIND = {"id_number": "id_number", "bank_card": "bank_card", "order": "bank_card", "time": "phone",
                   "price": "bank_card", "version": "ip", "ip": "ip", "phone": "phone", "url": "phone"}


def _frame(rng, lang: str, kind: str) -> str:
    if rng.random() < 0.2:
        return "{}"  # bare, between two sentences (zh: touching Han characters)
    return rng.choice(_FRAMES[(lang, kind)])


def _join(left: str, right: str, lang: str) -> str:
    """Chinese runs on without spaces, except where ASCII meets ASCII: nobody writes a phone
    number straight before "2011年" or after "3.2亿.", and no detector could split them."""
    if lang == "en":
        return left + " " + right if left and right else left + right
    if left and right and left[-1].isascii() and right[0].isascii() and not left[-1].isspace():
        return left + "，" + right
    return left + right


def _item(rng, sents, lang, value, frame):
    a, b = rng.choice(sents[lang]), rng.choice(sents[lang])
    head, tail = frame.split("{}")
    prefix = _join(a, head, lang) if head else a
    prefix = _join(prefix, value, lang)[: -len(value)]
    text = _join(prefix + value + tail, b, lang)
    return text, (len(prefix), len(prefix) + len(value))


def build_planted_set(per_kind: int = 400, seed: int = 13, sentences: dict | None = None) -> list[dict]:
    """Documents with exactly one planted positive (`kind`) or near-miss negative (`family`)
    each, and its span."""
    rng = random.Random(seed)
    sents = sentences or base_sentences()
    items = []
    for kind, gen in POSITIVES.items():
        for i in range(per_kind):
            lang = "zh" if i % 3 else "en"
            text, span = _item(rng, sents, lang, gen(rng), _frame(rng, lang, kind))
            items.append({"text": text, "span": span, "kind": kind, "family": None, "lang": lang})
    for family, (gen, imitates) in NEGATIVES.items():
        for i in range(per_kind // 2):
            lang = "zh" if i % 3 else "en"
            text, span = _item(rng, sents, lang, gen(rng), _frame(rng, lang, _NEG_FRAME_KIND[imitates]))
            items.append({"text": text, "span": span, "kind": None, "family": family, "lang": lang})
    return items


def evaluate(items: list[dict]) -> dict:
    counts = {k: {"tp": 0, "fp": 0, "fn": 0} for k in KINDS}
    fired = {f: [0, 0] for f in NEGATIVES}
    background: list[tuple[str, str]] = []
    chars = 0
    t0 = time.perf_counter()
    for it in items:
        chars += len(it["text"])
        s, e = it["span"]
        found = find_pii(it["text"])
        hit = False
        for m in found:
            overlaps = m.start < e and m.end > s
            if overlaps and m.kind == it["kind"] and not hit:
                counts[m.kind]["tp"] += 1
                hit = True
                continue
            counts[m.kind]["fp"] += 1
            if not overlaps:
                background.append((m.kind, m.value))
        if it["kind"] and not hit:
            counts[it["kind"]]["fn"] += 1
        if it["family"]:
            fired[it["family"]][1] += 1
            fired[it["family"]][0] += any(m.start < e and m.end > s for m in found)
    seconds = time.perf_counter() - t0
    per_kind = {}
    for k, c in counts.items():
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
        per_kind[k] = {**c, "precision": p, "recall": r}
    return {"per_kind": per_kind, "negatives": {f: {"fired": a, "n": n} for f, (a, n) in fired.items()},
            "background": background, "n_items": len(items), "mchars_per_s": chars / 1e6 / seconds}


def misses(items: list[dict]) -> list[tuple[str, str]]:
    """(kind, planted value) of the positives not found: what to look at when recall drops."""
    out = []
    for it in items:
        if it["kind"]:
            s, e = it["span"]
            if not any(m.kind == it["kind"] and m.start < e and m.end > s for m in find_pii(it["text"])):
                out.append((it["kind"], it["text"][s:e]))
    return out
