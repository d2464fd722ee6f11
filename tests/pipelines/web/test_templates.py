"""Site-template removal (pipelines/web/templates.py): the pure core, and the Beam transform
on the DirectRunner over synthetic documents whose expected texts are written out here."""
from __future__ import annotations

import json
from array import array

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.web.templates import (RemoveSiteTemplates, TemplateConfig, _DomainLinesFn, line_hash,
                                     page_signature, remove_template_lines, template_lines)

CFG = TemplateConfig(min_pages=3, min_share=0.5)
# Page-specific words: letters, not numbers (digits are normalized to 0, so "story 1" and
# "story 2" are one line).
W = [chr(ord("a") + i) * 2 for i in range(26)] + [chr(ord("a") + i) * 3 for i in range(26)]


def h(*lines):
    return {line_hash(line) for line in lines}


# ---- core -------------------------------------------------------------------------------

def test_footer_on_most_pages_is_a_template_and_a_line_on_two_is_not():
    pages = [[f"story {W[i]} first paragraph.", f"story {W[i]} second paragraph."] for i in range(6)]
    for i in range(5):
        pages[i].append("About us | Contact | Jobs")
    pages[0].append("Related: the budget vote")
    pages[3].append("Related: the budget vote")
    assert template_lines(pages, CFG) == h("About us | Contact | Jobs")


def test_threshold_is_the_larger_of_min_pages_and_the_share():
    # 10 pages, min_share 0.5: 5 pages needed (min_pages 3 does not bind)
    pages = [[f"page {W[i]} text."] for i in range(10)]
    for i in range(5):
        pages[i].append("on five")
    for i in range(4):
        pages[i].append("on four")
    assert template_lines(pages, CFG) == h("on five")
    # 4 pages, min_share 0.5 -> 2, but min_pages 3 binds
    small = [["pa", "on three", "on two"], ["pb", "on three", "on two"], ["pc", "on three"], ["pd"]]
    assert template_lines(small, CFG) == h("on three")


def test_domain_with_fewer_pages_than_min_pages_is_untouched():
    pages = [["menu", "a"], ["menu", "b"]]
    assert template_lines(pages, TemplateConfig(min_pages=3, min_share=0.1)) == set()
    assert template_lines(pages, TemplateConfig(min_pages=2, min_share=0.1)) == h("menu")


def test_digits_whitespace_and_ascii_case_are_normalized():
    pages = [["© 2011-12-01 Example  News", "a."], ["  © 2012-01-17 example news", "b."],
             ["©\t2011-11-30 EXAMPLE NEWS ", "c."]]
    found = template_lines(pages, CFG)
    assert found == h("© 0000-00-00 example news")
    assert line_hash("２０１１年") == line_hash("0000年")  # fullwidth digits are digits
    assert line_hash("Ä") != line_hash("ä")  # only ASCII is case-folded


def test_a_line_counts_once_per_page():
    # "menu" 3 times on page 0 and once on page 1: two pages, below min_pages 3
    pages = [["menu", "menu", "x", "menu"], ["menu", "y"], ["z"], ["w"]]
    assert template_lines(pages, CFG) == set()


def test_identical_pages_count_once():
    # Three copies of one article (a page fetched three times) are one page: its lines are
    # not a template; the footer on three distinct pages is.
    article = ["The article's only paragraph.", "footer"]
    pages = [article, list(article), list(article), ["other.", "footer"], ["more.", "footer"]]
    assert template_lines(pages, CFG) == h("footer")


def test_pages_over_max_lines_do_not_count():
    long_page = ["menu"] + [f"line {chr(0x4e00 + i)}" for i in range(10)]
    pages = [["menu", "a"], ["menu", "b"], long_page]
    assert template_lines(pages, TemplateConfig(min_pages=3, min_share=0.5, max_lines_per_page=20)) == h("menu")
    assert template_lines(pages, TemplateConfig(min_pages=3, min_share=0.5, max_lines_per_page=5)) == set()


def test_remove_template_lines():
    text = "Home | News\nTitle\n\nHome | News\nBody text.\n\n\nCopyright 2011 X\n"
    out, n = remove_template_lines(text, h("home | news", "copyright 0000 x"))
    assert (out, n) == ("Title\n\nBody text.", 3)
    untouched = "a\n\n\n\nb\n"
    assert remove_template_lines(untouched, h("zzz")) == (untouched, 0)
    assert remove_template_lines("menu\nmenu", h("menu")) == ("", 2)


def test_disabled_config_finds_nothing():
    pages = [["menu", W[i]] for i in range(5)]
    assert template_lines(pages, TemplateConfig(enabled=False)) == set()


def test_from_dict():
    cfg = TemplateConfig.from_dict({"min_pages": 4, "min_share": 0.25, "max_pages_per_domain": 50})
    assert (cfg.min_pages, cfg.min_share, cfg.max_pages_per_domain, cfg.enabled) == (4, 0.25, 50, True)
    assert TemplateConfig.from_dict(None) == TemplateConfig()
    with pytest.raises(ValueError):
        TemplateConfig.from_dict({"min_page": 4})


def test_combine_samples_big_domains_the_same_in_any_order_and_split():
    """A domain over max_pages_per_domain: a bounded sample, whatever order the pages come in
    and however the runner splits the combine."""
    cfg = TemplateConfig(min_pages=3, min_share=0.5, max_pages_per_domain=4)
    texts = [f"nav\nunique {W[i]}\n" + ("half\n" if i % 2 else "") for i in range(40)]
    sigs = [page_signature(t, cfg) for t in texts]
    fn = _DomainLinesFn(cfg)

    def fold(items):
        acc = fn.create_accumulator()
        for s in items:
            acc = fn.add_input(acc, s)
        return acc

    one = fn.extract_output(fold(sigs))
    parts = [fold(sigs[i::3]) for i in range(3)]
    merged = fn.extract_output(fn.merge_accumulators([fn.compact(p) for p in reversed(parts)]))
    assert merged == one
    assert fn.extract_output(fold(list(reversed(sigs)))) == one
    # the same sample, not only the same answer
    assert fn.compact(fold(sigs)) == fn.compact(fold(list(reversed(sigs)))) == fn.compact(
        fn.merge_accumulators([fn.compact(p) for p in parts]))
    assert len(fn.compact(fold(sigs))) == 4  # the bound
    assert line_hash("nav") in set(array("Q", one))


# ---- Beam -------------------------------------------------------------------------------

NAV, FOOT = "Home | World | Sports", "© {y} Alpha Media. All rights reserved."


def _doc(key, text, domain="<none>"):
    d = {"id": key, "key": key, "text": text, "source": "web", "url": None}
    if domain != "<none>":
        d["web"] = {"domain": domain}
    return d


def corpus():
    """36 documents: alpha.example (10 pages), beta.example (2), gamma.example (20), 4 without
    a domain. Returns (documents, expected text by key, expected lines removed by key)."""
    docs, want, removed = [], {}, {}
    # alpha: NAV and the footer (dates differ) on all 10 -> templates; "Most read" on 5 of 10
    # (share 0.5 -> 5 needed) -> template; "Related" on 4 -> kept.
    for i in range(10):
        lines = [NAV, f"Alpha story {W[i]}.", f"It happened on day {W[i]}."]
        if i < 5:
            lines.append("Most read: the dam breaks")
        if i >= 6:
            lines.append("Related: the election")
        lines.append(FOOT.format(y=2000 + i))
        docs.append(_doc(f"a{i}", "\n".join(lines), "alpha.example"))
        keep = [f"Alpha story {W[i]}.", f"It happened on day {W[i]}."] + (["Related: the election"] if i >= 6 else [])
        want[f"a{i}"] = "\n".join(keep)
        removed[f"a{i}"] = 3 if i < 5 else 2
    # beta: 2 pages, fewer than min_pages: untouched even with alpha's nav on both
    for i in range(2):
        text = f"{NAV}\nBeta post {W[i]}.\nMost read: the dam breaks"
        docs.append(_doc(f"b{i}", text, "beta.example"))
        want[f"b{i}"], removed[f"b{i}"] = text, 0
    # gamma: 20 pages; "Contact us" on all, the repeated "Most read" on 2 only (kept: the line
    # is a template of alpha, not of gamma); page g0 is nothing but template lines.
    for i in range(20):
        if i == 0:
            text = "Contact us\n\nsitemap   2011"
            exp, n = "", 2
        else:
            lines = [f"Gamma report {W[i]}, in full.", "Contact us", "Sitemap 1999"]
            if i in (3, 4):
                lines.insert(1, "Most read: the dam breaks")
            text = "\n".join(lines)
            exp = "\n".join(lines[:-2])
            n = 2
        docs.append(_doc(f"g{i}", text, "gamma.example"))
        want[f"g{i}"], removed[f"g{i}"] = exp, n
    # no domain: no web at all, web without domain, web None, domain None -> untouched
    nav_text = f"{NAV}\nLoose text."
    docs += [_doc("n0", nav_text), _doc("n1", nav_text, None), {**_doc("n2", nav_text), "web": None},
             {**_doc("n3", nav_text), "web": {"warc_type": "response"}}]
    return docs, want, removed


def run_templates(docs, cfg, out_dir):
    """(output documents read back from files, counters): files work in every runner mode."""
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    (p | beam.Create(docs) | RemoveSiteTemplates(cfg)
       | beam.Map(json.dumps) | beam.io.WriteToText(str(out_dir / "out")))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    got = [json.loads(line) for f in sorted(out_dir.glob("out*")) for line in f.read_text().splitlines()]
    return got, counters


def test_beam_transform_exact_outputs(tmp_path):
    docs, want, removed = corpus()
    got, counters = run_templates(docs, CFG, tmp_path)
    assert len(got) == len(docs) == 36
    assert sorted(d["key"] for d in got) == sorted(d["key"] for d in docs)
    by_key = {d["key"]: d for d in got}
    originals = {d["key"]: d for d in docs}
    for key in ("n0", "n1", "n2", "n3"):
        assert by_key[key] == originals[key]  # untouched: no template_lines_removed either
    for key, text in want.items():
        assert by_key[key]["text"] == text, key
        assert by_key[key]["template_lines_removed"] == removed[key], key
        others = {k: v for k, v in by_key[key].items() if k not in ("text", "template_lines_removed")}
        assert others == {k: v for k, v in originals[key].items() if k != "text"}
    assert counters["template_lines_removed"] == sum(removed.values()) == 5 * 3 + 5 * 2 + 20 * 2
    assert counters["template_docs_changed"] == 30
    assert counters["template_docs_emptied"] == 1


def test_beam_domain_over_max_pages_is_sampled_and_still_stripped(tmp_path):
    """25 pages, a sample of 4: the nav on every page is still found; the one-page lines kept."""
    docs = [_doc(f"p{i}", f"{NAV}\nPage {W[i]} alone.\n{NAV}", "big.example") for i in range(25)]
    got, counters = run_templates(docs, TemplateConfig(min_pages=3, min_share=0.5, max_pages_per_domain=4),
                                  tmp_path)
    assert sorted((d["key"], d["text"], d["template_lines_removed"]) for d in got) == sorted(
        (f"p{i}", f"Page {W[i]} alone.", 2) for i in range(25))
    assert counters["template_lines_removed"] == 50


def test_beam_transform_disabled_passes_everything_through(tmp_path):
    docs, _, _ = corpus()
    got, _ = run_templates(docs, TemplateConfig(enabled=False), tmp_path)
    assert sorted(got, key=lambda d: d["key"]) == sorted(docs, key=lambda d: d["key"])


def test_beam_transform_with_no_template_anywhere(tmp_path):
    """An empty side input (no domain has templates): every document comes out as it was,
    with 0 lines removed where it has a domain."""
    docs = [_doc("x0", "one", "x.example"), _doc("x1", "two", "x.example"), _doc("y0", "three")]
    got, _ = run_templates(docs, CFG, tmp_path)
    assert sorted(got, key=lambda d: d["key"]) == [
        {**docs[0], "template_lines_removed": 0}, {**docs[1], "template_lines_removed": 0}, docs[2]]


def test_whole_text_normalization_equals_the_per_line_definition():
    """`normalized_lines` (the stage's fast path) gives the bytes of `normalize_line` line by
    line: on awkward whitespace, digits and case, and on real reference texts."""
    import json
    import random

    from pipelines.datadir import dataset_path
    from pipelines.web.templates import normalize_line, normalized_lines

    rng = random.Random(0)
    alphabet = " \t\n\r\x0b\x0c\u3000\u00a0\u2028\u0085aZ1２ÄäİıΣ中"
    texts = ["".join(rng.choice(alphabet) for _ in range(120)) for _ in range(500)]
    with (dataset_path("web_extraction") / "pages.jsonl").open(encoding="utf-8") as f:
        texts += [json.loads(line)["reference"] or "" for line in f]
    for text in texts:
        assert normalized_lines(text) == [normalize_line(line).encode("utf-8", "surrogatepass")
                                          for line in text.split("\n")]
