"""URL block lists, UT1 style: user-supplied files of domains and URL prefixes, each a named list.

The UT1 blacklists (Université Toulouse 1 Capitole, CC BY-SA 4.0) and the many lists that copy
their layout are folders of categories, each with a `domains` file (one domain a line: the
domain and every subdomain are blocked) and often a `urls` file (one scheme-less URL a line:
every URL that starts with it is blocked). A list is named by its folder (`adult/domains` ->
"adult"), or by its file name when the file is not called `domains`/`urls` (`my_block.txt` ->
"my_block"), so a drop can be counted per list. Nothing is bundled: the lists are large,
change daily, and which ones to apply is the user's choice.

`match(url)` costs one dict lookup per host suffix (a.b.c.com: a.b.c.com, b.c.com, c.com, com)
and, when URL lists are loaded, one per path prefix ending at a '/'; never a scan of the list.
"""
from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote, urlsplit

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URL_FILE_NAMES = ("urls", "url", "urls.txt", "url.txt")
_DOMAIN_FILE_NAMES = ("domains", "domain", "domains.txt", "domain.txt", "hosts", "hosts.txt")


def _read_lines(path: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems  # local paths and gs:// alike

    with FileSystems.open(path) as f:
        data = f.read()
    # Lists are ASCII in practice; a stray Latin-1 byte must not cost the whole list.
    return data.decode("utf-8", errors="replace").splitlines()


def _list_name(path: str) -> tuple[str, bool]:
    """(list name, is a URL list) of a list file."""
    base = posixpath.basename(path.rstrip("/"))
    lower = base.lower()
    if lower in _URL_FILE_NAMES or lower in _DOMAIN_FILE_NAMES:
        parent = posixpath.basename(posixpath.dirname(path.rstrip("/")))
        return parent or lower, lower in _URL_FILE_NAMES
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return stem, stem.lower().endswith("urls")


def normalize_host(host: str) -> str:
    """Lower case, no trailing dot, no port, no userinfo, no leading 'www.'; Unicode labels
    as IDNA/punycode (xn--...), the form block lists and WARC headers use for them."""
    host = host.strip().rsplit("@", 1)[-1]
    if host.startswith("["):  # IPv6 literal
        return host.split("]", 1)[0].lower() + "]"
    host = host.split(":", 1)[0].rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            # Labels the codec refuses (too long, odd characters) are still looked up label by
            # label, so a list written in Unicode or punycode can match the rest of them.
            host = ".".join(_label_to_ascii(l) for l in host.split("."))
    if host.startswith("www."):
        host = host[4:]
    return host


def _label_to_ascii(label: str) -> str:
    if label.isascii():
        return label
    try:
        return "xn--" + label.encode("punycode").decode("ascii")
    except UnicodeError:
        return label


def _split_url(url: str) -> tuple[str, str]:
    """(normalized host, path+query) of a URL with or without a scheme."""
    url = url.strip()
    if not _SCHEME_RE.match(url) and not url.startswith("//"):
        url = "//" + url  # scheme-less, as UT1 writes its url lines
    try:
        parts = urlsplit(url)
        netloc, path, query = parts.netloc, parts.path, parts.query
    except ValueError:  # e.g. an unbalanced '[' in the host
        return "", ""
    host = normalize_host(netloc)
    path = unquote(path) or "/"
    return host, path + ("?" + query if query else "")


class UrlBlocklist:
    """Named domain and URL-prefix lists; `match(url)` names the first list that blocks it."""

    def __init__(self):
        self.domains: dict[str, str] = {}        # host -> list name
        self.url_prefixes: dict[str, str] = {}   # "host/path" (no scheme) -> list name
        self.max_path_depth = 0
        self.names: list[str] = []

    @classmethod
    def load(cls, paths: list[str]) -> "UrlBlocklist":
        bl = cls()
        for path in paths:
            name, is_urls = _list_name(path)
            bl.add_lines(name, _read_lines(path), is_urls)
        return bl

    def add_lines(self, name: str, lines, is_urls: bool) -> None:
        if name not in self.names:
            self.names.append(name)
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if is_urls:
                host, path = _split_url(line)
                if not host:
                    continue
                path = path.split("?", 1)[0].split("#", 1)[0].lower().rstrip("/")
                key = host + path
                self.url_prefixes.setdefault(key, name)
                self.max_path_depth = max(self.max_path_depth, key.count("/"))
            else:
                # A domain line: '.example.com' and '*.example.com' mean the same as 'example.com'.
                host = normalize_host(line.lstrip("*").lstrip("."))
                if host:
                    self.domains.setdefault(host, name)

    def __len__(self) -> int:
        return len(self.domains) + len(self.url_prefixes)

    def match(self, url: str | None) -> str | None:
        """The name of the list that blocks `url`, or None."""
        if not url:
            return None
        host, path = _split_url(url)
        if not host:
            return None
        # The host and each parent domain: a.b.example.com, b.example.com, example.com, com.
        h = host
        while True:
            name = self.domains.get(h)
            if name is not None:
                return name
            dot = h.find(".")
            if dot < 0:
                break
            h = h[dot + 1:]
        if self.url_prefixes:
            return self._match_prefix(host, path)
        return None

    def _match_prefix(self, host: str, path: str) -> str | None:
        # UT1 url lines are prefixes ending at a path segment: "example.com/forum" blocks
        # example.com/forum and example.com/forum/..., not example.com/forums. Check the
        # whole path first, then each shorter segment boundary; parent hosts too.
        full = path.split("?", 1)[0].split("#", 1)[0].lower().rstrip("/")
        segments = full.split("/")[1:self.max_path_depth + 1]
        hosts = [host]
        h = host
        while "." in h:
            h = h[h.find(".") + 1:]
            hosts.append(h)
        for hh in hosts:
            for k in range(len(segments), 0, -1):
                name = self.url_prefixes.get(hh + "/" + "/".join(segments[:k]))
                if name is not None:
                    return name
            name = self.url_prefixes.get(hh)
            if name is not None:
                return name
        return None
