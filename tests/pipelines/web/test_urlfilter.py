"""UT1-style URL block lists: named domain lists (a domain blocks its subdomains) and URL prefixes."""
from pipelines.web.urlfilter import UrlBlocklist, normalize_host


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _lists(tmp_path):
    adult = _write(tmp_path / "adult" / "domains", [
        "# UT1 adult", "", "example-porn.com", "Bad-Site.ORG  # upper case in the list",
        "xn--bcher-kva.example", "www.wwwsite.net", "*.wild.org",
    ])
    gambling = _write(tmp_path / "gambling" / "domains", ["casino.test", "例子.test"])
    urls = _write(tmp_path / "gambling" / "urls", ["forum.net/casino", "http://blog.test/user/42/"])
    own = _write(tmp_path / "my_block.txt", ["mine.test"])
    return UrlBlocklist.load([adult, gambling, urls, own])


def test_domain_blocks_itself_and_subdomains_not_lookalikes(tmp_path):
    bl = _lists(tmp_path)
    assert bl.match("http://example-porn.com/") == "adult"
    assert bl.match("https://a.b.example-porn.com/x/y?z=1") == "adult"
    assert bl.match("http://notexample-porn.com/") is None       # a suffix, not on a label boundary
    assert bl.match("http://example-porn.com.evil.test/") is None
    assert bl.match("http://casino.test/promo") == "gambling"
    assert bl.match("http://mine.test") == "my_block"            # named by its file


def test_www_port_case_userinfo_and_no_scheme(tmp_path):
    bl = _lists(tmp_path)
    assert bl.match("HTTP://WWW.EXAMPLE-PORN.COM:8080/Index.html") == "adult"
    assert bl.match("http://user:pw@bad-site.org/") == "adult"
    assert bl.match("bad-site.org/page") == "adult"
    assert bl.match("http://wwwsite.net/") == "adult"            # 'www.' in the list means the site
    assert bl.match("http://x.wild.org/") == "adult"             # '*.' and '.' prefixes: the domain
    assert bl.match("http://example-porn.com./") == "adult"     # trailing dot of a FQDN


def test_idna_hosts_match_either_spelling(tmp_path):
    bl = _lists(tmp_path)
    assert bl.match("http://bücher.example/") == "adult"         # Unicode URL, punycode list
    assert bl.match("http://shop.BÜCHER.example/") == "adult"
    assert bl.match("http://xn--fsqu00a.test/") == "gambling"    # punycode URL, Unicode list (例子)
    assert normalize_host("例子.test") == "xn--fsqu00a.test"


def test_url_list_is_a_prefix_on_path_segments(tmp_path):
    bl = _lists(tmp_path)
    assert bl.match("http://forum.net/casino") == "gambling"
    assert bl.match("https://www.forum.net/casino/page/2?x=1") == "gambling"
    assert bl.match("http://forum.net/CASINO/") == "gambling"
    assert bl.match("http://forum.net/casinos") is None
    assert bl.match("http://forum.net/") is None
    assert bl.match("http://forum.net/other/casino") is None
    assert bl.match("http://blog.test/user/42/post") == "gambling"
    assert bl.match("http://blog.test/user/421") is None


def test_junk_input_is_no_match(tmp_path):
    bl = _lists(tmp_path)
    for url in (None, "", "http://", "http://[::1", "mailto:x@y", "   "):
        assert bl.match(url) is None
    assert len(bl) == 10
    assert bl.names == ["adult", "gambling", "my_block"]
