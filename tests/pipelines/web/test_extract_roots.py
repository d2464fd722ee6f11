"""The `roots` main-text extractor: hand-made pages for each rule, real pages for an F1 floor."""
from __future__ import annotations

import collections
import gzip
import json
import re

import pytest

from pipelines.datadir import dataset_path
from pipelines.web.extract.roots import RootsExtractor

PROSE = (
    "The river rose through the night, and by morning the lower town was under water. "
    "Volunteers carried sandbags, neighbours opened their homes, and the mayor asked for calm. "
)


def _extract(html: str):
    return RootsExtractor().extract(html, "https://example.org/a")


def _article_page() -> str:
    paragraphs = "".join(f"<p>{PROSE} Paragraph number {i}.</p>" for i in range(5))
    nav = "".join(f'<li><a href="/s{i}">Section link {i}</a></li>' for i in range(12))
    comments = "".join(
        f'<div class="comment"><a href="/u{i}">user{i}</a> Great story number {i}, thanks!</div>'
        for i in range(6))
    related = "".join(f'<li><a href="/r{i}">Related headline {i} about floods</a></li>' for i in range(8))
    return f"""<html><head><title>Flood hits town | Daily Example</title>
    <meta property="og:title" content="Flood hits the lower town"></head><body>
    <nav><ul>{nav}</ul></nav>
    <div id="page"><div class="main-column"><article><h1>Flood hits the lower town</h1>{paragraphs}</article>
      <div id="comments">{comments}</div></div>
      <div class="sidebar"><h3>Most read</h3><ul>{related}</ul></div></div>
    <footer><p>Copyright 2024 Daily Example. All rights reserved. Contact us, advertise, jobs.</p></footer>
    <script>var tracking = "Paragraph number 99";</script>
    </body></html>"""


def test_article_kept_and_boilerplate_dropped():
    out = _extract(_article_page())
    lines = out.text.split("\n")
    for i in range(5):
        assert f"{PROSE.strip()} Paragraph number {i}." in lines  # one paragraph, one line
    for junk in ("Section link", "Great story", "Related headline", "Copyright", "tracking",
                 "Paragraph number 99", "Most read"):
        assert junk not in out.text, junk


def test_title_prefers_og_title_then_title_element():
    assert _extract(_article_page()).title == "Flood hits the lower town"
    page = _article_page().replace('<meta property="og:title" content="Flood hits the lower town">', "")
    assert _extract(page).title == "Flood hits town | Daily Example"
    assert _extract("<html><body><p>no title here at all</p></body></html>").title is None


ZH_PARAS = [
    "新华社北京12月9日电，今年冬季北方多地迎来降雪，交通部门提前部署除雪工作，保障道路安全畅通。",
    "气象专家表示，这次降雪过程持续时间长、影响范围广，请公众注意防寒保暖，减少不必要的外出。",
    "各地学校根据天气情况调整了作息时间，部分中小学推迟到校，确保师生出行安全。",
]


def _zh_page() -> str:
    body = "".join(f"<p>　　{p}</p>" for p in ZH_PARAS)
    hot = "".join(f'<li><a href="/n{i}">热点新闻标题第{i}条</a></li>' for i in range(15))
    legal = ("<div>本网站所刊载信息，不代表本网观点。刊用本网站稿件，务经书面授权，"
             "未经授权禁止转载、摘编、复制及建立镜像，违者将依法追究法律责任。</div>"
             "<div>京ICP证040655号，版权所有，总机：86-10-87826688</div>")
    return f"""<html><head><meta charset="utf-8"><title>北方多地迎来降雪_新闻中心</title></head>
    <body><table><tr><td class="left"><ul>{hot}</ul></td>
    <td class="zw"><div id="zoom">{body}{legal}</div></td></tr></table>
    <div class="bottom">关于我们 | 联系我们 | 广告服务 | 网站地图</div></body></html>"""


def test_chinese_article_with_cjk_punctuation():
    out = _extract(_zh_page())
    assert out.text.split("\n") == ZH_PARAS  # ideographic indentation gone, nothing else kept
    assert out.title == "北方多地迎来降雪_新闻中心"


def test_disclaimer_and_icp_boxes_do_not_win_or_stay():
    # A short article beside a comma-rich legal notice: the notice must neither be chosen as
    # the article nor stay inside it.
    page = """<html><body><div id="content"><div class="art"><p>央行今天宣布下调存款准备金率，
    释放长期资金约一万亿元。</p></div>
    <div class="notice"><p>声明：凡注明为其他媒体来源的信息，均为转载自其他媒体，转载并不代表本网赞同其观点，
    也不代表本网对其真实性负责。您若对该稿件内容有任何疑问或质疑，请即与本网联系，本网将迅速给您回应并做处理。</p></div>
    </div><div class="pagebottom"><p>本网站所刊载信息，不代表中新社和中新网观点。刊用本网站稿件，务经书面授权，
    未经授权禁止转载、摘编、复制及建立镜像，违者将依法追究法律责任。京ICP证040655号</p></div></body></html>"""
    out = _extract(page)
    assert "央行今天宣布下调存款准备金率" in out.text
    assert "声明" not in out.text and "ICP" not in out.text and "不代表" not in out.text


def test_br_separated_lines_become_lines():
    verses = [f"第{i}行歌词，轻轻唱给你听。" for i in range(1, 7)]
    page = ("<html><body><div class='menu'><a href='/'>首页</a> <a href='/b'>排行</a></div>"
            "<div class='lyrics'>" + "<br>\n".join(verses) + "<br/></div></body></html>")
    assert _extract(page).text.split("\n") == verses


def test_teaser_with_promising_class_loses_to_the_article():
    # Class names like "article" earn a bonus; on a box holding one line it must not outweigh
    # the real article's text.
    teaser = ('<div class="article-teaser" id="main-article"><p>今日要闻：股市小幅上涨，成交量放大，'
              '分析人士认为市场信心正在恢复。</p></div>')
    article = "".join(f"<p>{p}</p>" for p in ZH_PARAS * 2)
    page = f"<html><body>{teaser}<div class='box'><div>{article}</div></div></body></html>"
    out = _extract(page)
    assert ZH_PARAS[0] in out.text and "今日要闻" not in out.text


def test_article_inside_a_boilerplate_named_wrapper_is_recovered():
    # The first pass drops boxes named like page furniture ("community", "header", "menu"...);
    # when that leaves almost nothing, the page is scored again without that step.
    paragraphs = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(3))
    page = f'<html><body><div class="community-story">{paragraphs}</div></body></html>'
    out = _extract(page)
    assert out.text.count("Part ") == 3


def test_second_pass_starts_from_the_page_as_it_was():
    # The second pass undoes the first pass's drops instead of parsing again: the text a
    # dropped box's tail left in its neighbour must go back to where it was, once.
    paragraphs = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(3))
    page = (f'<html><body><div class="community-story">{paragraphs}'
            '<span class="share-bar">Share</span> Filed under floods.</div></body></html>')
    out = _extract(page)
    assert out.text.count("Part ") == 3
    assert out.text.count("Filed under floods.") == 1


def test_source_newlines_are_not_paragraph_breaks():
    page = ("<html><body><div><p>" + PROSE.replace(", ", ",\n") + "</p><pre>x = 1\ny = 2</pre>"
            "</div></body></html>")
    assert _extract(page).text.split("\n") == [PROSE.strip(), "x = 1", "y = 2"]


def test_link_lists_lose_to_prose_even_when_longer():
    # A directory of long link titles has more characters than the article; its link density
    # must sink it.
    links = "".join(
        f'<p><a href="/x{i}">Headline number {i} about markets, rates, jobs, housing and the economy today</a></p>'
        for i in range(12))
    article = "".join(f"<p>{PROSE} Item {i}.</p>" for i in range(3))
    page = f"<html><body><div>{links}</div><div>{article}</div></body></html>"
    out = _extract(page)
    assert "Item 2." in out.text and "Headline number" not in out.text


def test_commas_mark_prose_over_longer_commaless_blocks():
    # Lists of names or tickers can be long; prose is punctuated. Same tags, no class names
    # (each in its own column, so sibling merging has no say).
    listing = "".join(f"<p>{' '.join(f'Ticker{i}{j} Corp 12.{j}' for j in range(8))}</p>" for i in range(5))
    prose = "".join(f"<p>{ZH_PARAS[i % 3]}</p>" for i in range(4))
    page = f"<html><body><div><div>{listing}</div></div><div><div>{prose}</div></div></body></html>"
    out = _extract(page)
    assert ZH_PARAS[0] in out.text and "Ticker" not in out.text


def test_article_split_over_sibling_boxes_is_merged():
    # Lead and body in sibling boxes (an ad slot between them): both scored high, both kept.
    lead = "".join(f"<p>{PROSE} Lead {i}.</p>" for i in range(3))
    rest = "".join(f"<p>{PROSE} Body {i}.</p>" for i in range(4))
    page = (f"<html><body><div><div>{lead}</div><div class='ad-slot'><a href='/ad'>Buy</a></div>"
            f"<div>{rest}</div></div><div><a href='/'>Home</a></div></body></html>")
    out = _extract(page)
    assert "Lead 2." in out.text and "Body 3." in out.text and "Buy" not in out.text


def test_comment_threads_and_inline_footers_are_dropped():
    # Readers' comments are punctuated prose too; only their box's name and the <footer> tag
    # tell them apart from the story they follow.
    story = "".join(f"<p>{PROSE} Story {i}.</p>" for i in range(4))
    comments = "".join(
        f"<p>I disagree, frankly, with the mayor, the council, and the paper, reader {i} says.</p>"
        for i in range(6))
    page = (f"<html><body><div id='wrap'><div>{story}"
            f"<footer><p>About the author: reporter, editor, father, runner, coffee lover.</p></footer>"
            f"</div><div class='comment-list'>{comments}</div></div></body></html>")
    out = _extract(page)
    assert "Story 3." in out.text
    assert "disagree" not in out.text and "About the author" not in out.text


def _news_page(inner: str, before: str = "", article: str = "<article>") -> str:
    story = "".join(f"<p>{PROSE} Story {i}.</p>" for i in range(4))
    return f"<html><body><div id='wrap'>{article}{before}{story}{inner}</article></div></body></html>"


@pytest.mark.parametrize("ruthless_kills_wrapper", [False, True])
def test_captions_and_credits_are_dropped(ruthless_kills_wrapper):
    # Photo captions and credits sit inside the story's box but are not its text; they go in
    # the fallback pass too (a wrapper named like furniture forces that pass).
    inner = ("<figure><pre>level = 4.2</pre><figcaption>The mayor, in boots, at the levee on Monday."
             "</figcaption></figure>"
             "<div class='InlineImage-caption'>Sandbags, stacked high, along the river road.</div>"
             "<div class='image-credit'>Photo: Jane Doe, Example Press</div>")
    page = _news_page(inner)
    if ruthless_kills_wrapper:
        page = page.replace("<div id='wrap'>", "<div class='menu-wrap'>")
    out = _extract(page)
    assert "Story 3." in out.text
    assert "level = 4.2" in out.text  # a figure that holds content stays, less its caption
    for junk in ("mayor, in boots", "Sandbags", "Jane Doe"):
        assert junk not in out.text, junk
    # Only short boxes are captions: a story wrapper so named is the story.
    wrapped = _news_page("", article="<article class='post-body has-captions'>")
    assert "Story 3." in _extract(wrapped).text


def test_image_figure_with_bare_credit_dropped_but_quote_figure_kept():
    inner = ("<figure><span><img src='a.jpg'></span><cite>Getty Images</cite></figure>"
             "<figure><blockquote>We will rebuild, street by street, the mayor said.</blockquote>"
             "</figure>")
    out = _extract(_news_page(inner))
    assert "Getty Images" not in out.text
    assert "We will rebuild, street by street, the mayor said." in out.text


def test_embedded_tweet_quote_is_kept():
    # The class names an embedded post (it matches the "twitter" furniture pattern), but a
    # quote in the story is the story's text.
    inner = ('<blockquote class="twitter-tweet"><p>Water is at the doorsteps on Main Street, '
             'stay safe everyone.</p>— Town Hall (@townhall) May 3, 2024</blockquote>')
    out = _extract(_news_page(inner))
    assert "Water is at the doorsteps on Main Street, stay safe everyone." in out.text
    assert "(@townhall)" in out.text


def test_link_paragraphs_in_the_story_are_dropped_prose_with_links_kept():
    inner = ("<p><a href='/x'><strong>READ MORE: FLOODS HIT THE VALLEY AGAIN</strong></a></p>"
             "<p>The council met on <a href='/c'>Tuesday night</a> and voted, after a long "
             "debate, to fund new levees.</p>")
    out = _extract(_news_page(inner))
    assert "READ MORE" not in out.text
    assert "The council met on Tuesday night and voted" in out.text


def test_short_byline_boxes_are_dropped():
    inner = ("<div class='byline'><span class='author'>Jane Doe</span> "
             "<span>Published 10:02 AM May 3, 2024</span></div>")
    out = _extract(_news_page("", before=inner))
    assert "Story 3." in out.text
    assert "Jane Doe" not in out.text and "Published" not in out.text
    # A long box with such a name is not a byline (here: the whole story in "author-content").
    long_page = _news_page("", article="<article class='author-content'>")
    assert "Story 3." in _extract(long_page).text


@pytest.mark.parametrize("html", ["", "   ", "<!-- only a comment -->", "<frameset></frameset>"])
def test_empty_pages_give_empty_text(html):
    out = _extract(html)
    assert out.text == "" and out.title is None


def test_xml_declaration_with_encoding_is_accepted():
    page = '<?xml version="1.0" encoding="gbk"?><html><body><p>你好，世界。</p></body></html>'
    assert _extract(page).text == "你好，世界。"


# Real pages: the first half of each set (the half the rules were developed on; the second half
# is reported, not asserted). One token = one CJK ideograph or one lowercase ASCII alnum run.
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[a-z0-9]+")

# Measured with this code on these pages: daniel_zh 0.950, cwced_zh 0.950, scrapinghub_en 0.982
# (readability-lxml 0.886 / 0.903 / 0.964; trafilatura 0.867 / 0.800 / 0.950). The floors sit
# ~0.03 below ours: a broken rule (scoring, link density, pruning, sanitizing) costs more.
FLOORS = {"daniel_zh": 0.92, "cwced_zh": 0.88, "scrapinghub_en": 0.95}


def _f1(pred: str, ref: str) -> float:
    p = collections.Counter(_TOKEN.findall(pred.lower()))
    r = collections.Counter(_TOKEN.findall(ref.lower()))
    overlap = sum((p & r).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(r.values())
    return 2 * precision * recall / (precision + recall)


@pytest.fixture(scope="module")
def real_pages():
    from pipelines.web.decode import decode_html

    root = dataset_path("web_extraction")
    by_set = collections.defaultdict(list)
    with (root / "pages.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["set"] in FLOORS:
                by_set[row["set"]].append(row)
    pages = {}
    for name, rows in by_set.items():
        half = rows[: (len(rows) + 1) // 2]
        pages[name] = [
            (decode_html(gzip.decompress((root / r["html_path"]).read_bytes()), None).text or "",
             r["url"], r["reference"])
            for r in half
        ]
    return pages


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_f1_floor_on_real_pages(real_pages, name):
    extractor = RootsExtractor()
    scores = [_f1(extractor.extract(html, url).text, ref) for html, url, ref in real_pages[name]]
    mean = sum(scores) / len(scores)
    assert mean >= FLOORS[name], f"{name}: mean F1 {mean:.3f} < {FLOORS[name]}"


def _wiki_page() -> str:
    """A MediaWiki article as the software lays it out (an.wikipedia.org/wiki/Escopete in a
    Common Crawl WARC, shortened): an infobox table, a lead that links most of its words,
    sections under h2 headings that carry "[edit | edit source]" links, and closing
    sections (references, external links) that are lists of links."""
    def a(word):
        return f'<a href="/wiki/{word.replace(" ", "_")}" title="{word}">{word}</a>'

    def h2(title):
        return (f'<h2><span class="mw-headline" id="{title}">{title}</span><span class="mw-editsection">'
                f'<span class="mw-editsection-bracket">[</span><a href="/w/index.php?action=edit">edit</a>'
                f' | <a href="/w/index.php?veaction=edit">edit source</a>'
                f'<span class="mw-editsection-bracket">]</span></span></h2>')

    infobox = ('<table class="infobox geography"><tbody><tr><th colspan="2">Escopete</th></tr>'
               + "".join(f"<tr><th>{a(k)}</th><td>{a(v)}</td></tr>" for k, v in (
                   ("Country", "Spain"), ("Community", "Castile-La Mancha"),
                   ("Province", "Guadalajara"), ("Comarca", "La Alcarria")))
               + "</tbody></table>")
    lead = (f"<p><b>Escopete</b> is a {a('municipality')} of the {a('province of Guadalajara')}, in "
            f"the {a('autonomous community')} of {a('Castile-La Mancha')}, {a('Spain')}, "
            f"{a('comarca')} of {a('La Alcarria')} and {a('judicial district')} of "
            f"{a('Guadalajara')}.</p>")
    refs = '<div class="reflist"><ol class="references"><li>↑ ' + a("Provincial Council") + "</li></ol></div>"
    links = "<ul>" + "".join(f"<li>{a(f'External site {i}')}</li>" for i in range(3)) + "</ul>"
    nav = "".join(f'<li><a href="/wiki/Page_{i}">Portal {i}</a></li>' for i in range(10))
    langs = "".join(f'<li class="interlanguage-link"><a href="https://{c}.wikipedia.org/">{c}</a></li>'
                    for c in ("es", "en", "fr", "ca", "eu"))
    return f"""<html><head><title>Escopete - Wikipedia</title></head><body>
    <div id="mw-navigation"><ul>{nav}</ul></div>
    <div id="content" class="mw-body"><h1 id="firstHeading">Escopete</h1>
    <div id="mw-content-text" class="mw-body-content"><div class="mw-content-ltr mw-parser-output">
    {infobox}{lead}
    <p>Its population is 84 inhabitants (2007), on an area of 19.01 km² and a density of 4.42
    inhabitants per km².</p>
    {h2("Geography")}<p>It lies 860 metres above the sea, 47 km from {a("Guadalajara")}, the
    capital of its province, and the hamlet of {a("Monteumbría")} belongs to it.</p>
    {h2("History")}<p>Escopete is named in the {a("Relaciones Topográficas")} that
    {a("Philip II")} of Castile had written in 1578.</p>
    {h2("References")}{refs}{h2("External links")}{links}
    </div></div></div>
    <div id="p-lang" class="portal"><ul>{langs}</ul></div>
    <div id="footer"><ul><li>This page was last edited on 1 May 2024.</li>
    <li><a href="/wiki/Privacy">Privacy policy</a></li></ul></div></body></html>"""


def test_wiki_article_lead_after_infobox_and_section_headings():
    lines = _extract(_wiki_page()).text.split("\n")
    # The lead links most of its words: counted without the spaces between the links it
    # looked like a line of links (the dropped paragraph of the Common Crawl page).
    assert lines[0] == ("Escopete is a municipality of the province of Guadalajara, in the "
                        "autonomous community of Castile-La Mancha, Spain, comarca of La Alcarria "
                        "and judicial district of Guadalajara.")
    # Section titles without the "[edit | edit source]" links; the link-list sections
    # (references, external links) and their then empty headings at the end are gone.
    assert lines[1:] == [
        "Its population is 84 inhabitants (2007), on an area of 19.01 km² and a density of 4.42 "
        "inhabitants per km².",
        "Geography",
        "It lies 860 metres above the sea, 47 km from Guadalajara, the capital of its province, "
        "and the hamlet of Monteumbría belongs to it.",
        "History",
        "Escopete is named in the Relaciones Topográficas that Philip II of Castile had written "
        "in 1578.",
    ]


def test_link_lines_that_are_not_sentences_stay_dropped():
    # Under the bar once its spaces count (24 of 37 characters linked), but a tag line, not a
    # sentence: it goes, as it did before spaces counted (24 of 29).
    words = " ".join(f"<a href='/k{i}'>kw{i}</a>" for i in range(8))
    out = _extract(_news_page(f"<p>Tags: {words}</p>"))
    assert "kw3" not in out.text and "Story 3." in out.text
