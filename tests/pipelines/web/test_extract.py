"""pipelines.web.extract: the backends' contract and the per-page guard (time, memory, crashes).

The guard tests run real child processes; the test-only backends below are module-level so the
child can rebuild them from a pickle. Timeouts are generous against work that never ends, and
only outcomes are asserted, never durations.
"""
from __future__ import annotations

import os
import pickle
import signal

import pytest

from pipelines.web import extract as ext
from pipelines.web.extract import (
    Extracted, ExtractError, ExtractMemory, ExtractTimeout, GuardedExtractor, as_lines,
    get_extractor, register_backend,
)

PEERS = ["trafilatura", "trafilatura_precision", "resiliparse", "readability", "alltext"]

ARTICLE = """<!DOCTYPE html><html><head><title> 测试 标题 </title><meta charset="utf-8">
<script>var junk = "SCRIPTJUNK";</script><style>.x{color:red} STYLEJUNK</style></head><body>
<div id="nav"><ul><li><a href="/">首页</a></li><li><a href="/n">新闻</a></li><li><a href="/s">体育</a></li></ul></div>
<div id="content" class="article"><h1>春天的故事</h1>
<p>一九七九年，那是一个春天，有一位老人在中国的南海边画了一个圈，神话般地崛起座座城，奇迹般地聚起座座金山。</p>
<p>Spring   came to the   southern coast, and the city grew out of the fields within a few short years, as everyone remembers.</p>
<p>第三段正文：人们在这里工作、学习和生活，城市的面貌日新月异，这是改革开放以来最生动的写照之一，值得记录。</p>
<p>第四段正文：港口的吞吐量逐年增加，高楼拔地而起，来自五湖四海的年轻人在这里实现自己的梦想，写下新的篇章。</p>
</div><div id="footer">版权所有 © 2011 某某网 京ICP备00000000号</div></body></html>"""

NORMAL = "<html><body><p>a normal page after the bad one, with enough words to be the main text here.</p></body></html>"


# ---- the contract every backend keeps -------------------------------------------------------

def test_as_lines_collapses_space_and_drops_empty_lines():
    assert as_lines("  a \t b\u3000c \n\n \u00a0\n d\r\ne  ") == "a b c\nd\ne"


@pytest.mark.parametrize("name", PEERS)
def test_peer_keeps_the_article_as_lines(name):
    got = get_extractor(name).extract(ARTICLE, "http://example.com/a.html")
    assert isinstance(got, Extracted)
    lines = got.text.split("\n")
    assert all(line == " ".join(line.split()) and line for line in lines)  # collapsed, none empty
    assert any(line.startswith("一九七九年，那是一个春天") for line in lines)
    assert "Spring came to the southern coast" in got.text  # runs of spaces collapsed
    assert "SCRIPTJUNK" not in got.text and "STYLEJUNK" not in got.text
    # Paragraphs stay separate lines, not one run of text.
    assert not any("一九七九年" in line and "Spring" in line for line in lines)
    assert got.title and "测试 标题" in got.title


@pytest.mark.parametrize("name", ["trafilatura", "trafilatura_precision", "resiliparse", "readability"])
def test_main_content_backends_drop_the_page_frame(name):
    text = get_extractor(name).extract(ARTICLE).text
    assert "京ICP备" not in text and "首页" not in text


def test_alltext_keeps_the_page_frame():
    text = get_extractor("alltext").extract(ARTICLE).text
    assert "京ICP备" in text and "首页" in text


def test_registry_names_and_options():
    assert set(PEERS) | {"roots"} <= set(ext.backend_names())
    assert ext.DEFAULT in ext.backend_names()
    assert get_extractor("trafilatura_precision").name == "trafilatura_precision"
    with pytest.raises(ValueError, match="unknown extractor"):
        get_extractor("no-such-backend")


def test_stale_xml_declaration_does_not_break_lxml_backends():
    page = '<?xml version="1.0" encoding="gb2312"?>' + ARTICLE
    for name in ("trafilatura", "readability"):
        assert "一九七九年" in get_extractor(name).extract(page).text


# ---- test-only backends the guard runs --------------------------------------------------------

class SpinBackend:
    """Loops forever on a page that says SPIN-FOREVER; echoes the others."""

    def __init__(self, name="test-spin"):
        self.name = name

    def extract(self, html, url=None):
        while "SPIN-FOREVER" in html:
            pass
        if "RAISE-VALUE-ERROR" in html:
            raise ValueError("bad page")
        if "KILL-MYSELF" in html:
            os.kill(os.getpid(), signal.SIGKILL)
        return Extracted("t", as_lines(html))


class HogBackend:
    """On ALLOCATE-A-LOT, allocates 1.5 GB in 8 MB pieces: past a 256 MB cap, but bounded so a
    broken cap fails the test instead of exhausting the machine."""

    def __init__(self, name="test-hog"):
        self.name = name

    def extract(self, html, url=None):
        if "ALLOCATE-A-LOT" in html:
            hoard = [bytearray(8 << 20) for _ in range(192)]
            return Extracted(None, f"allocated {len(hoard)} pieces")
        return Extracted(None, as_lines(html))


class BrokenBackend:
    def __init__(self, name="test-broken"):
        raise RuntimeError("cannot build")


register_backend("test-spin", SpinBackend)
register_backend("test-hog", HogBackend)
register_backend("test-broken", BrokenBackend)


@pytest.fixture
def guarded():
    made = []

    def make(name, **kw):
        g = GuardedExtractor(name, **kw)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


def test_timeout_kills_the_child_and_the_next_page_goes_on(guarded):
    g = guarded("test-spin", timeout_s=2.0)
    assert g.extract("<p>first</p>").text == "<p>first</p>"
    first_pid = g.pid
    with pytest.raises(ExtractTimeout) as info:
        g.extract("SPIN-FOREVER")
    assert info.value.reason == "timeout"
    assert g.pid is None  # killed, not left spinning
    assert g.extract("<p>next</p>").text == "<p>next</p>"
    assert g.pid != first_pid
    assert g.counts["timeouts"] == 1 and g.counts["starts"] == 2


def test_memory_cap_raises_and_the_next_page_goes_on(guarded):
    g = guarded("test-hog", timeout_s=60.0, max_memory_mb=256)
    assert g.extract("small").text == "small"
    with pytest.raises(ExtractMemory) as info:
        g.extract("ALLOCATE-A-LOT")
    assert info.value.reason == "memory"
    assert g.extract("after").text == "after"


def test_a_page_error_is_reported_and_the_child_kept(guarded):
    g = guarded("test-spin", timeout_s=60.0)
    g.extract("warm")
    pid = g.pid
    with pytest.raises(ExtractError) as info:
        g.extract("RAISE-VALUE-ERROR")
    assert info.value.reason == "error" and "bad page" in str(info.value)
    assert g.pid == pid
    assert g.extract("still here").text == "still here"


def test_a_dead_child_is_a_crash_and_is_replaced(guarded):
    g = guarded("test-spin", timeout_s=60.0)
    with pytest.raises(ExtractError) as info:
        g.extract("KILL-MYSELF")
    assert info.value.reason == "crash" and "signal 9" in str(info.value)
    assert g.extract("alive").text == "alive"


def test_a_backend_that_cannot_be_built_fails_loudly(guarded):
    with pytest.raises(RuntimeError, match="cannot build"):
        guarded("test-broken").extract("x")


def test_in_process_mode_maps_errors_the_same_way():
    g = GuardedExtractor("test-spin", isolate=False)
    assert g.extract("plain").text == "plain"
    with pytest.raises(ExtractError) as info:
        g.extract("RAISE-VALUE-ERROR")
    assert info.value.reason == "error"
    assert g.pid is None  # no child was started


def test_guarded_equals_in_process_and_survives_pickling(guarded):
    g = guarded("trafilatura", timeout_s=60.0)
    assert g.extract(ARTICLE) == get_extractor("trafilatura").extract(ARTICLE)
    copy = pickle.loads(pickle.dumps(g))  # as a DoFn holding it would be
    try:
        assert copy.extract(ARTICLE) == g.extract(ARTICLE)
        assert copy.pid != g.pid
    finally:
        copy.close()


DEEP = "<html><body>" + "<div>" * 10_000 + "<p>deep text at the bottom of ten thousand divs</p>" + "</div>" * 10_000 + "</body></html>"


@pytest.mark.parametrize("name", PEERS + ["roots"])
def test_ten_thousand_nested_tags_do_not_crash(guarded, name):
    g = guarded(name, timeout_s=120.0)
    try:
        got = g.extract(DEEP)
        assert isinstance(got, Extracted)
    except ExtractError as e:  # a clean refusal is fine; a crash of the caller is not
        assert e.reason in ("error", "memory", "timeout", "crash")
    assert "一九七九年" in g.extract(ARTICLE).text


# ---- the benchmark's metric (hand-counted expectations) ---------------------------------------

def test_benchmark_tokens_and_f1():
    from roots_measure import extraction as bench

    # One token per CJK character (繁體 too), one per lower-cased ASCII word; punctuation none.
    assert bench.tokens("新聞 News,news 2011年！") == {"新": 1, "聞": 1, "news": 2, "2011": 1, "年": 1}
    ref = bench.tokens("我们 今天 go home")            # 我 们 今 天 go home: 6 tokens
    got = bench.tokens("我们 明日 go go")              # 我 们 明 日 go go: overlap 我 们 go = 3
    p, r, f = bench.prf(got, ref)
    assert (p, r) == (0.5, 0.5) and f == 0.5
    assert bench.prf(bench.tokens(""), ref) == (0.0, 0.0, 0.0)
