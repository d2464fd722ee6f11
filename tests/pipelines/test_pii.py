"""PII redaction: checksums, each kind in Chinese and English text, near misses left alone, and
precision/recall on a planted set built from the shared data (benchmarks/pii_eval.py)."""
import datetime

import pytest

from pipelines.text.pii import (
    KINDS,
    RedactPII,
    bank_card_is_valid,
    cn_id_check_char,
    cn_id_is_valid,
    find_pii,
    luhn_is_valid,
    redact,
)
from roots_measure.pii import build_planted_set, evaluate


def _iso7064_mod11_2(body17: str) -> str:
    """The check character by the standard's iterative form (not the module's weighted sum)."""
    p = 0
    for c in body17:
        p = (p + int(c)) * 2 % 11
    r = (12 - p) % 11
    return "X" if r == 10 else str(r)


# GB 11643's own example, and three more completed by the reference above.
VALID_IDS = ["11010519491231002X"] + [b + _iso7064_mod11_2(b) for b in
                                      ("11010119900307051", "31010419800101123", "61011319571219388")]


def _id(body17: str) -> str:
    return body17 + cn_id_check_char(body17)


def test_resident_id_checksum_and_date():
    for v in VALID_IDS:
        assert cn_id_is_valid(v), v
        assert cn_id_is_valid(v.lower())
    good = VALID_IDS[0]
    for wrong in "0123456789":  # every other check character fails
        assert not cn_id_is_valid(good[:17] + wrong)
    assert not cn_id_is_valid(_id("11010519990230123"))          # 30 February, right check char
    assert not cn_id_is_valid(_id("99010519900101123"))          # no province 99
    assert not cn_id_is_valid("440524188001010014")              # the standard's 1880 example: nobody alive
    assert cn_id_check_char("44052418800101001") == "4"
    assert not cn_id_is_valid(_id("11010520300101123"), today=datetime.date(2026, 1, 1))  # not born yet
    assert not cn_id_is_valid("1101051949123100")                # 16 characters


def test_luhn_and_issuer():
    for card in ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117",
                 "6222021234567890128", "3530111333300000"]:
        assert luhn_is_valid(card) and bank_card_is_valid(card), card
    assert bank_card_is_valid("4111 1111 1111 1111") and bank_card_is_valid("3782-822463-10005")
    assert not luhn_is_valid("4111111111111112") and not bank_card_is_valid("4111111111111112")
    assert not bank_card_is_valid("6222021234567890129")
    # Luhn-valid but no card scheme issues it: a 13-digit millisecond timestamp, a date-prefixed order number.
    stamp = next(str(t) for t in range(1699171200000, 1699171200100) if luhn_is_valid(str(t)))
    order = next(str(t) for t in range(2023110512345600, 2023110512345700) if luhn_is_valid(str(t)))
    assert not bank_card_is_valid(stamp) and not bank_card_is_valid(order)
    # Fujian IDs (35...) share JCB's prefix: a mistyped one that happens to pass Luhn is no card.
    typo = next(v for v in (f"35020319911114{n:04d}" for n in range(10000)) if luhn_is_valid(v) and not cn_id_is_valid(v))
    assert not bank_card_is_valid(typo) and find_pii(f"证件号{typo}。") == []


CASES_ZH = {
    "email": "简历请发送至zhang.wei88@163.com，我们会尽快回复。",
    "phone": "如有疑问请拨打13812345678咨询。",
    "id_number": f"持证人身份证号码{VALID_IDS[2]}，有效期十年。",
    "bank_card": "请将款项汇入招商银行卡6222021234567890128，谢谢。",
    "ip": "该用户登录IP为8.8.4.4，位于境外。",
}
CASES_EN = {
    "email": "For details write to Jane.Roe@university.edu before May.",
    "phone": "Call our office at +44 20 7946 0958 during working hours.",
    "id_number": f"The passenger's Chinese ID number {VALID_IDS[3]} was checked.",
    "bank_card": "She paid with card 4111 1111 1111 1111 yesterday.",
    "ip": "Requests from 2001:4860:4860::8888 were blocked.",
}


@pytest.mark.parametrize("lang,kind", [(l, k) for l in ("zh", "en") for k in KINDS])
def test_each_kind_redacted_in_context(lang, kind):
    text = (CASES_ZH if lang == "zh" else CASES_EN)[kind]
    out, counts = redact(text)
    assert counts == {kind: 1}, (text, out)
    # The words around it are untouched (the Han characters next to the number too).
    assert out.startswith(text[:4]) and out.endswith(text[-2:])
    tagged, _ = redact(text, style="tags")
    assert {"email": "<EMAIL>", "phone": "<PHONE>", "id_number": "<ID_NUMBER>", "bank_card": "<BANK_CARD>",
            "ip": "<IP_ADDRESS>"}[kind] in tagged


def test_chinese_phone_forms():
    for phone in ["13812345678", "138 1234 5678", "138-1234-5678", "+86 13812345678", "+86-138-1234-5678",
                  "0086 13812345678", "(+86)13812345678", "010-62751234", "(010)62751234", "（0755）26781234",
                  "0755-2678 1234", "021-54321234转8012", "+86 10 62751234"]:
        text = f"联系电话{phone}，欢迎来电。"
        out, counts = redact(text)
        assert counts == {"phone": 1} and out == "联系电话<PHONE>，欢迎来电。", (phone, out)


def test_placeholders_are_inert_and_deterministic():
    text = "邮箱 li.na@qq.com，服务器 93.184.216.34 与 2606:4700::1111。"
    once, counts = redact(text)
    assert counts == {"email": 1, "ip": 2}
    assert "@example." in once and "qq.com" not in once and "93.184.216.34" not in once
    # datatrove-style stand-ins are reserved addresses: a second pass finds nothing.
    assert redact(once) == (once, {})
    assert redact(text)[0] == once


NEGATIVES = [
    "2023年11月5日发布，售价13800元，优惠价¥1380.00。",
    "订单号2023110512345678901已发货，时间戳1699171200000。",
    "身份证号11010519491231002 5 与 110105194912310021（校验位错误）。",
    "卡号6222021234567890129（校验失败）。",
    "卡号6258 0753 9860 3675（校验失败，后三组形似区号0753的座机）。",
    "请升级到版本 2.0.1.3 或 v1.2.3.4，version 4.2.1.7 已弃用。",
    "内网地址192.168.1.100和127.0.0.1不是个人信息。",
    "原文见 https://www.toutiao.com/a/13912345678/ 和 https://item.jd.com/6222021234567890128.html",
    "会议时间12:30:45，比分3:1，圆周率3.1415926535，MAC 00:1A:2B:3C:4D:5E，std::vector。",
    "编号12345678901不是手机号，图片 logo@2x.png 也不是邮箱。",
    "The 2019-2020 season cost $1,299.99 and ISBN 978-3-16-148410-0 is a book.",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_near_misses_untouched(text):
    assert redact(text) == (text, {}), find_pii(text)


def test_step_sets_counts_and_never_drops():
    step = RedactPII()
    step.setup()
    doc = {"text": CASES_ZH["phone"] + CASES_EN["email"]}
    assert step(doc) is None
    assert doc["pii"] == {"phone": 1, "email": 1}
    assert "13812345678" not in doc["text"]
    clean = {"text": "没有个人信息的一句话。"}
    assert step(clean) is None and clean["pii"] == {}
    assert RedactPII.from_config({"enabled": False}) is None
    only = RedactPII.from_config({"kinds": ["email"], "style": "tags"})
    doc = {"text": CASES_ZH["phone"] + " a@b.cn"}
    only(doc)
    assert doc["pii"] == {"email": 1} and "13812345678" in doc["text"]
    with pytest.raises(ValueError, match="unknown PII kinds"):
        RedactPII(kinds=["passport"])
    with pytest.raises(ValueError, match="pii.kind: unknown setting"):
        RedactPII.from_config({"kind": ["email"]})


def test_planted_set_precision_and_recall():
    """A slice of the benchmark: real sentences with planted PII and near misses."""
    rep = evaluate(build_planted_set(per_kind=60, seed=3))
    for kind, c in rep["per_kind"].items():
        print(kind, c)
        assert c["tp"] + c["fn"] == 60
        assert c["recall"] >= 0.95, kind
        assert c["precision"] >= 0.95, kind
    for family, c in rep["negatives"].items():
        assert c["fired"] <= 1, family


def test_seven_digit_gate_is_implied_by_every_number_pattern():
    """_candidates skips the phone/ID/card patterns when the cheap gate finds nothing: sound only
    if every match of those patterns contains a gate match. Checked on the planted benchmark
    texts (every kind, near misses) and on random digit strings with every separator shape."""
    import random

    from pipelines.text import pii

    patterns = [pii._MOBILE_RE, pii._LANDLINE_RE, pii._INTL_RE, pii._NANP_RE, pii._ID_RE, pii._CARD_RE]
    rng = random.Random(5)
    texts = [item["text"] for item in build_planted_set(per_kind=60, seed=3)]
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(7, 19)))
        seps = ["", " ", "-", ".", ") ", "（", "）", " - ", "+"]
        texts.append(rng.choice(["", "+", "(", "（", "+86 ", "(+86) ", "电话"]) +
                     "".join(d + (rng.choice(seps) if rng.random() < 0.3 else "") for d in digits))
    matched = 0
    for text in texts:
        for regex in patterns:
            for m in regex.finditer(text):
                matched += 1
                assert pii._SEVEN_DIGITS_RE.search(m.group(0)), (regex.pattern[:40], m.group(0))
    assert matched > 1000
    # The gate does skip ordinary numbers.
    assert not pii._SEVEN_DIGITS_RE.search("2017年营收540万元，同比增长12.5%，12:30发布")


def _random_ipv4(rng):
    parts = [str(rng.choice([rng.randint(0, 9), rng.randint(0, 255), rng.randint(0, 999)]))
             for _ in range(rng.choice([3, 4, 4, 4, 5]))]
    return rng.choice(["", "ip ", "v", "服务器", "x."]) + ".".join(parts) + rng.choice(["", ".", "a", ":8080", "。"])


def _random_ipv6(rng):
    groups = ["".join(rng.choice("0123456789abcdefABCDEF") for _ in range(rng.randint(0, 4)))
              for _ in range(rng.randint(2, 8))]
    return rng.choice(["", "addr ", "[", "服务器"]) + ":".join(groups) + rng.choice(["", "]", " x", "/64"])


@pytest.mark.parametrize("kind,make,extra,ordinary", [
    ("IPV4", _random_ipv4, ["\u0661\u0662.\u0663.\u0664.\u0665"],  # Arabic-Indic digits are \\d to both
     "版本 1.2.3，价格 12.5 元，见 3.1 节"),
    ("IPV6", _random_ipv6, [], "Time: 12:30, ratio 3:2, 注意：标题：内容"),
])
def test_ip_gates_are_implied_by_every_match(kind, make, extra, ordinary):
    """_candidates runs an IP pattern only where its cheap gate matches: sound only if every
    match of the pattern contains a gate match (planted texts and random near-addresses)."""
    import random

    from pipelines.text import pii

    regex, gate = getattr(pii, f"_{kind}_RE"), getattr(pii, f"_{kind}_GATE_RE")
    rng = random.Random(11)
    texts = [item["text"] for item in build_planted_set(per_kind=60, seed=3)] + extra
    texts += [make(rng) for _ in range(3000)]
    matched = 0
    for text in texts:
        for m in regex.finditer(text):
            matched += 1
            assert gate.search(m.group(0)), m.group(0)
    assert matched > 300
    assert not gate.search(ordinary)
