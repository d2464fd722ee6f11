"""The `web:` section of the pipeline config, typed (its settings, defaults and checks are
declared here and in `spam.SpamThresholds`; pipelines/config/schema.py builds and checks
them): a wrong key or value is a ConfigError naming the file and key before any work starts."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..config.schema import Section, setting
from .spam import SpamThresholds


@dataclass(frozen=True)
class TemplateConfig(Section):
    """lines repeated across a domain's pages in a run (navigation, footers) removed
    (`templates.RemoveSiteTemplates`)"""
    enabled: bool = setting(True, "benchmarks/template_eval.py (DAnIEL pages by host): F1 vs the human text")
    min_pages: int = setting(
        3, "A line is a template line of a domain when it is on >= max(min_pages, min_share * pages) of the domain's "
           "distinct pages. Measured on the DAnIEL news pages grouped by host (benchmarks/template_eval.py; 2-14 "
           "pages a host): min_pages 2 takes article headlines that two other pages list as related stories; from 3 "
           "up, every reference line removed is a disclaimer, a dateline, a source or byline line, never article "
           "prose. Mean F1, none -> (3, 0.3) / (3, 0.5): all visible text 0.540 -> 0.685 / 0.660, resiliparse main "
           "content 0.811 -> 0.876 / 0.865, trafilatura 0.871 -> 0.893 / 0.888, roots 0.952 -> 0.957 / 0.957.",
        positive=True)
    min_share: float = setting(
        0.3, "Shares under 0.3 bind on no host of that set (3 pages is the floor up to 15), so they are untested; on "
             "a big news host they would let a \"most read\" sidebar, on many pages of a crawl week, take the "
             "headline off its own article.", positive=True)
    max_pages_per_domain: int = setting(
        1000, "The pages a domain's counts are taken over: a sample of this many distinct pages (the smallest "
              "fingerprints), so a domain of millions of pages costs what one of a thousand does; the share of pages "
              "a site-wide line is on hardly changes with the sample.", positive=True)
    max_lines_per_page: int = setting(
        1000, "A page with more lines than this (a data dump, a log) is not counted: the count's memory bound. It is "
              "still stripped of the domain's template lines.", positive=True)

    def threshold(self, pages: int) -> int:
        """Pages a line must be on to be a template line of a domain with `pages` pages."""
        return max(self.min_pages, math.ceil(self.min_share * pages - 1e-9))


def _known_extractor(name: str) -> str | None:
    from .extract.base import backend_names

    if name not in backend_names():
        return f"unknown extractor {name!r} (known: {', '.join(backend_names())})"
    return None


@dataclass(frozen=True)
class WebConfig(Section):
    """Web crawls (WARC / WET / HTML inputs; pipelines/web, docs/web.md). Documents from other
    inputs never meet these steps."""
    section_name = "web"
    max_body_mb: float = setting(10, "an HTTP body that inflates past this is dead-lettered, never inflated whole",
                                 positive=True)
    extractor: str = setting("roots", "main-text backend: roots | trafilatura | trafilatura_precision | resiliparse "
                                      "| readability | alltext", check=_known_extractor)
    guard: bool = setting(True, "extraction in a child process: a page over the limits is dropped, the job goes on")
    extract_timeout_s: float = setting(5, "trafilatura can hang on a page (trafilatura#704)", positive=True)
    extract_memory_mb: int = setting(2048, positive=True)
    url_blocklists: tuple[str, ...] = setting((), "UT1-style list files (local or gs://): dropped `url_blocklist`, "
                                                  "counted per list", label="paths")
    templates: TemplateConfig = setting(factory=TemplateConfig)
    spam: SpamThresholds = setting(factory=SpamThresholds)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * (1 << 20))
