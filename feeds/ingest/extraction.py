"""Structured bits pulled out of article HTML: the outlet's related-stories box, the lead
image with its caption and credit, and the person/outlet pair of a byline.

BeautifulSoup with ``html.parser`` works on the *unsanitised* HTML; everything returned is
plain text (or an http(s) URL), and the HTML returned by ``extract_related_box`` still has to
go through ``sanitizing.clean_html``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from feeds.columns import max_length
from feeds.models import Story
from feeds.tagging.countries import COUNTRIES
from feeds.tagging.gazetteer import OUTLETS
from feeds.text.sanitizing import (
    clean_text,
    html_to_text,
    normalize_space,
    safe_url,
    too_deeply_nested,
)
from feeds.types import RelatedLine

__all__ = [
    "KNOWN_OUTLETS",
    "RELATED_BOX_HEADER",
    "country_slug",
    "extract_lead_image",
    "extract_related_box",
    "has_related_box",
    "is_outlet",
    "parse_byline",
    "split_credit",
]

RELATED_BOX_HEADER = "Related stories from around the North"

# Cheap pre-check on raw HTML, so BeautifulSoup only runs on bodies that may hold the box.
_BOX_HINT_RE = re.compile(
    r"related(?:[\s\xa0]|&nbsp;|&#0*160;|&#x0*a0;|<[^<>]{0,200}>)+stories", re.IGNORECASE
)
_BOX_STRING_RE = re.compile(r"related\s+stories", re.IGNORECASE)
_BOX_HEADER_RE = re.compile(r"^related stories from around the north\s*[:.\-–—]?$", re.IGNORECASE)
# "Canada: <a>Headline</a>, CBC News": a short country label, a colon, the rest.
_BOX_LINE_RE = re.compile(r"^(?P<label>[^\W\d_][\w .()/'’&-]{0,48}?)\s*:\s*(?P<rest>.*)$")

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "details", "div", "dl",
        "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
# Elements that are content even without text: a line holding one is never "empty".
_CONTENT_TAGS = ("img", "hr", "iframe", "video", "audio", "object", "embed", "svg", "picture")
_PI_RE = re.compile(r"<\?[^>]*>")
_MAX_LINE_DEPTH = 16
_BLOCK_START_RE = re.compile(
    r"<(?:p|div|h[1-6]|ul|ol|li|section|aside|blockquote|table|figure|header|footer)\b",
    re.IGNORECASE,
)

# How pages label a country beside a related link: its name, its feed labels and its other
# names, all from its data file (feeds/tagging/data/countries/<slug>.toml).
_COUNTRY_ALIASES: dict[str, str] = {
    label: country.slug
    for country in COUNTRIES
    for label in (country.name.casefold(), *country.category_labels, *country.label_aliases)
}
_PAREN_LABEL_RE = re.compile(r"^(?P<outer>.*?)\s*\((?P<inner>[^()]*)\)$")

# Outlets a byline may name after the person ("Atle Staalesen, The Independent Barents
# Observer"): every outlet the tagging data knows (each country's own, wires, circumpolar).
KNOWN_OUTLETS = frozenset(name.casefold() for name in OUTLETS)
_OUTLET_WORDS = frozenset(
    {
        "agency", "beacon", "broadcast", "broadcasting", "channel", "daily", "gazette",
        "herald", "institute", "journal", "magazine", "media", "network", "news", "newspaper",
        "newsroom", "observer", "post", "press", "radio", "review", "television", "times",
        "today", "tribune", "tv", "wire",
    }
)  # fmt: skip
_ACRONYM_RE = re.compile(r"[A-ZÆØÅÄÖÜ0-9&]{2,6}")
_NAME_PARTICLES = frozenset(
    {"af", "al", "and", "bin", "da", "de", "del", "der", "di", "du", "la", "le", "van", "von"}
)
_HANDLES_RE = re.compile(r"(?:\s+@\w+)+$")
_BY_PREFIX_RE = re.compile(r"^by\s*[:\s]\s*", re.IGNORECASE)
_PARAGRAPH_RE = re.compile(r"<p\b[^>]*>(.*?)</p\s*>", re.IGNORECASE | re.DOTALL)
_BR_RE = re.compile(r"<br\b[^>]*>", re.IGNORECASE)
_BY_LINE_RE = re.compile(r"^by[:\s]\s*(?P<line>.{2,200})$", re.IGNORECASE | re.DOTALL)
_BYLINE_SEPARATORS_RE = re.compile(r"\s*(?:·|\||•|—|–)\s*")
_BYLINE_SCAN = 5000  # the "By Name" paragraph is at the top of the body

_IMG_RE = re.compile(r"<img\b", re.IGNORECASE)
_LEAD_START_RE = re.compile(r"<(?:figure|div)\b", re.IGNORECASE)
_FIGURE_END_RE = re.compile(r"</figure\s*>", re.IGNORECASE)
_PAREN_CREDIT_RE = re.compile(r"\s*\((?P<credit>[^()]{1,160})\)\s*\.?\s*$")
_LABEL_CREDIT_RE = re.compile(
    r"(?:^|(?<=[\s.;,|–—-]))(?:photo|photograph|foto|image|picture|credit|photo credit)s?"
    r"\s*:\s*(?P<credit>[^:]{1,160}?)\s*$",
    re.IGNORECASE,
)


def _soup(html: str) -> BeautifulSoup:
    # Processing instructions mean nothing in HTML content; dropping them also keeps bs4
    # from warning that an "<?xml ...?>" fragment may be XML (pytest turns warnings into errors).
    return BeautifulSoup(_PI_RE.sub("", html), "html.parser")


def _text_of(nodes: Iterable[PageElement]) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, Tag):
            parts.append(node.get_text())
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            parts.append(str(node))
    return normalize_space("".join(parts))


# --- related-stories box -------------------------------------------------------------------


@dataclass
class _Line:
    """One visual line of the box: the nodes between two <br> or block boundaries."""

    nodes: list[PageElement]
    br: Tag | None
    text: str
    stop: bool = False  # a structural element (e.g. <hr>) that ends the box

    @property
    def empty(self) -> bool:
        if self.stop or self.text:
            return False
        return not any(_has_content_element(n) for n in self.nodes)


def _has_content_element(node: PageElement) -> bool:
    if not isinstance(node, Tag):
        return False
    return node.name in _CONTENT_TAGS or _has_descendant(node, _CONTENT_TAGS)


def _has_descendant(tag: Tag, names: Iterable[str]) -> bool:
    # A plain walk: bs4's find() goes through its generic matcher, ~10x slower per call.
    return any(isinstance(d, Tag) and d.name in names for d in tag.descendants)


def _make_line(nodes: list[PageElement], br: Tag | None) -> _Line:
    return _Line(nodes=nodes, br=br, text=_text_of(nodes))


def _lines(nodes: Sequence[PageElement], depth: int = 0) -> Iterator[_Line]:
    """Split a node list into lines at <br> and block boundaries, descending into blocks."""
    current: list[PageElement] = []
    for node in nodes:
        if isinstance(node, Tag):
            if node.name == "br":
                yield _make_line(current, node)
                current = []
                continue
            if node.name in _BLOCK_TAGS or _has_descendant(node, ("br",)):
                if current:
                    yield _make_line(current, None)
                    current = []
                if node.name == "hr" or depth >= _MAX_LINE_DEPTH:
                    # A rule ends the box; so does markup nested deeper than any box is.
                    yield _Line(nodes=[node], br=None, text="", stop=True)
                else:
                    yield from _lines(list(node.children), depth + 1)
                continue
        current.append(node)
    if current:
        yield _make_line(current, None)


def country_slug(label: str) -> str | None:
    """Map a printed country label ("United States (Alaska)", "Denmark/Greenland") to a slug."""
    key = normalize_space(label).casefold().rstrip(":").strip()
    key = re.sub(r"\s*/\s*", "/", key)
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    m = _PAREN_LABEL_RE.match(key)
    if m:
        for part in (m["outer"], m["inner"]):
            if part.strip() in _COUNTRY_ALIASES:
                return _COUNTRY_ALIASES[part.strip()]
    return None


class _NotALine(Exception):
    """The block does not belong to the box: the box ends before it."""


def _first_anchor(nodes: Iterable[PageElement]) -> Tag | None:
    for node in nodes:
        if not isinstance(node, Tag):
            continue
        candidates = [node] if node.name == "a" else node.descendants
        for a in candidates:
            if not isinstance(a, Tag) or a.name != "a":
                continue
            if a.get_text().strip():
                return a
    return None


def _parse_box_line(line: _Line, base_url: str) -> RelatedLine | None:
    """Parse one line; None for a malformed line that still belongs to the box."""
    if line.stop:
        raise _NotALine
    m = _BOX_LINE_RE.match(line.text)
    if not m:
        raise _NotALine
    label = m["label"].strip()
    slug = country_slug(label)
    anchor = _first_anchor(line.nodes)
    if anchor is None and slug is None:
        # An unknown label without a link is prose ("Note: ..."), not a box line.
        raise _NotALine
    if anchor is not None:
        headline = normalize_space(anchor.get_text())
        pos = line.text.rfind(headline)
        if pos < m.start("rest"):
            raise _NotALine  # the "label" is inside the link text: not "Country: <a>…</a>"
        tail = line.text[pos + len(headline) :]
        outlet = tail.rsplit(",", 1)[1] if "," in tail else ""
        href = anchor.get("href")
        url = safe_url(href if isinstance(href, str) else "", base_url)
    else:
        rest = m["rest"]
        headline, outlet = rest.rsplit(",", 1) if "," in rest else (rest, "")
        url = ""
    headline = clean_text(headline, 500)
    if not headline:
        return None
    return RelatedLine(
        country_label=clean_text(label, 100),
        country_slug=slug,
        headline=headline,
        url=url,
        outlet=clean_text(outlet.strip(" \t,;|–—-"), 200),
    )


def _is_empty_tag(tag: Tag) -> bool:
    return not tag.get_text().strip() and not _has_descendant(tag, _CONTENT_TAGS)


def _remove_lines(lines: Iterable[_Line]) -> None:
    parents: dict[int, Tag] = {}
    for line in lines:
        for node in [*line.nodes, *([line.br] if line.br is not None else [])]:
            parent = node.parent
            if isinstance(parent, Tag) and not isinstance(parent, BeautifulSoup):
                parents.setdefault(id(parent), parent)
            node.extract()
    # Drop the <p>/<ul>/<div> shells the box leaves behind, innermost first.
    for parent in parents.values():
        tag: Tag | None = parent
        while (
            tag is not None
            and not isinstance(tag, BeautifulSoup)
            and not tag.decomposed
            and tag.parent is not None
            and _is_empty_tag(tag)
        ):
            above = tag.parent
            tag.decompose()
            tag = above if isinstance(above, Tag) else None


def _block_of(node: PageElement) -> Tag:
    for parent in node.parents:
        if parent.name in _BLOCK_TAGS or isinstance(parent, BeautifulSoup):
            return parent
    raise AssertionError("a parsed node always has the soup as an ancestor")


def _contains(line: _Line, node: PageElement) -> bool:
    chain = {id(node), *(id(p) for p in node.parents)}
    return any(id(n) in chain for n in line.nodes)


def has_related_box(html: str) -> bool:
    """Cheap test: might ``html`` contain the related-stories box?"""
    # A case-insensitive pattern steps through every character of the body; a substring
    # search of the lower-cased body is twice as fast and rules out almost every story.
    # (No character outside ASCII matches a letter of "related" under IGNORECASE.)
    return bool(html) and "related" in html.lower() and _BOX_HINT_RE.search(html) is not None


def extract_related_box(html: str, base_url: str = "") -> tuple[str, tuple[RelatedLine, ...]]:
    """Find the outlet's "Related stories from around the North" box and cut it out.

    Handles one ``<p>`` per line and one ``<p>`` split by ``<br />`` (feed-sources.md §2.1).
    Returns the HTML without the box (unchanged when there is none) and the parsed lines.
    Lines stop at the first block that is not ``Country: <a>Headline</a>, Outlet``-shaped;
    malformed lines inside the box (no headline) are dropped from both outputs.
    """
    hint = _BOX_HINT_RE.search(html) if html else None
    if hint is None or too_deeply_nested(html):
        return html, ()
    # Parse only from the block that opens the box to the end: the box sits at the foot of
    # the article, so this is a fraction of the body. A wrapper opened before the cut loses
    # its end tag here and is closed by the sanitiser at the end instead: harmless.
    window = max(0, hint.start() - 2000)
    starts = [m.start() for m in _BLOCK_START_RE.finditer(html, window, hint.start())]
    cut = starts[-1] if starts else 0
    soup = _soup(html[cut:])
    for marker in soup.find_all(string=_BOX_STRING_RE):
        if isinstance(marker, PreformattedString):  # a comment or CDATA mentioning it
            continue
        block = _block_of(marker)
        own_lines = list(_lines(list(block.children)))
        header_index = next((i for i, ln in enumerate(own_lines) if _contains(ln, marker)), None)
        if header_index is None or not _BOX_HEADER_RE.match(own_lines[header_index].text):
            continue
        following: Iterator[_Line] = iter(own_lines[header_index + 1 :])
        if not isinstance(block, BeautifulSoup):
            following = _chain(following, _lines(list(block.next_siblings)))
        consumed, related = _consume_box(following, base_url)
        if not consumed:
            continue
        _remove_lines([own_lines[header_index], *consumed])
        return html[:cut] + str(soup), tuple(related)
    return html, ()


def _chain(*iterators: Iterator[_Line]) -> Iterator[_Line]:
    for it in iterators:
        yield from it


def _consume_box(lines: Iterator[_Line], base_url: str) -> tuple[list[_Line], list[RelatedLine]]:
    consumed: list[_Line] = []
    pending_empty: list[_Line] = []
    related: list[RelatedLine] = []
    for line in lines:
        if line.empty:
            pending_empty.append(line)
            continue
        try:
            parsed = _parse_box_line(line, base_url)
        except _NotALine:
            break
        consumed.extend(pending_empty)
        pending_empty = []
        consumed.append(line)
        if parsed is not None:
            related.append(parsed)
    return consumed, related


# --- lead image ----------------------------------------------------------------------------


def _lead_snippet(html: str, img_at: int) -> str:
    """The part of ``html`` around its first <img>: enough for the figure and its caption."""
    window_start = max(0, img_at - 3000)
    starts = [m.start() for m in _LEAD_START_RE.finditer(html, window_start, img_at)]
    start = starts[-1] if starts else img_at
    end_match = _FIGURE_END_RE.search(html, img_at, img_at + 8000)
    end = end_match.end() if end_match else img_at + 3000
    return html[start:end]


_IMAGE_FILE_RE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)$", re.IGNORECASE)


def image_url(src: str, base: str = "") -> str:
    """The http(s) URL of an image a feed names (an ``<img>``, an enclosure, a media element),
    or "" when it names none.

    An absolute or scheme-relative URL is taken as the feed gives it. A relative one is
    resolved against the document's base only when it names an image file (Drupal's
    ``/sites/default/files/heat.jpg``): a bare ``x`` (the ``<img src=x onerror=…>`` of every
    XSS probe), ``#`` or ``?a`` would resolve to a made-up path on the outlet's site, or to
    the story's own page, and become the story's image.
    """
    url = safe_url(src, base)
    if not url:
        return ""
    try:
        ref = urlsplit(src.strip())
    except ValueError:
        return ""
    if ref.scheme or ref.netloc or _IMAGE_FILE_RE.search(ref.path):
        return url
    return ""


def _image_src(img: Tag, base_url: str) -> str:
    for attr in ("src", "data-src", "data-lazy-src", "data-original"):
        value = img.get(attr)
        if isinstance(value, str) and value.strip() and not value.strip().startswith("data:"):
            url = image_url(value, base_url)
            if url:
                return url
    srcset = img.get("srcset")
    if isinstance(srcset, str) and srcset.strip():
        return image_url(srcset.split(",")[0].strip().split(" ")[0], base_url)
    return ""


def _is_pixel(img: Tag) -> bool:
    for attr in ("width", "height"):
        value = img.get(attr)
        if isinstance(value, str) and value.strip().isdigit() and int(value.strip()) <= 2:
            return True
    return False


def _caption_of(img: Tag) -> str:
    figure = img.find_parent("figure")
    if figure is not None:
        caption = figure.find("figcaption")
        return _text_of([caption]) if caption is not None else ""
    wrapper = img.find_parent(class_=re.compile(r"\bwp-caption\b"))
    if wrapper is not None:
        caption = wrapper.find(class_="wp-caption-text")
        return _text_of([caption]) if caption is not None else ""
    return ""


def split_credit(caption: str) -> tuple[str, str]:
    """Split "Text. (Name / Agency)" or "Text. Photo: Name / Outlet" into (text, credit)."""
    for pattern in (_PAREN_CREDIT_RE, _LABEL_CREDIT_RE):
        m = pattern.search(caption)
        if m and m["credit"].strip():
            return caption[: m.start()].strip(), m["credit"].strip()
    return caption.strip(), ""


def _lead_from(soup: BeautifulSoup, base_url: str) -> tuple[str, str, str] | None:
    for img in soup.find_all("img"):
        if _is_pixel(img):
            continue
        url = _image_src(img, base_url)
        if not url:
            continue
        caption, credit = split_credit(_caption_of(img))
        caption_width, credit_width = (
            max_length(Story, "image_caption"),
            max_length(Story, "image_credit"),
        )
        return url, clean_text(caption, caption_width), clean_text(credit, credit_width)
    return None


def extract_lead_image(html: str, base_url: str = "") -> tuple[str, str, str]:
    """(url, caption, credit) of the first usable <img> (skipping pixels and non-http(s) src).

    The caption comes from the enclosing ``figure``/``figcaption`` or WordPress
    ``wp-caption``; a trailing "(Name / Agency)" or "Photo: Name / Outlet" is the credit.
    """
    if not html:
        return "", "", ""
    first = _IMG_RE.search(html)
    if first is None or too_deeply_nested(html):
        return "", "", ""
    # Parsing only the neighbourhood of the first <img> keeps this cheap on long bodies.
    snippet = _lead_snippet(html, first.start())
    found = _lead_from(_soup(snippet), base_url)
    if found is None and len(snippet) < len(html):
        found = _lead_from(_soup(html[first.start() : first.start() + 200_000]), base_url)
    return found or ("", "", "")


# --- bylines -------------------------------------------------------------------------------


def is_outlet(name: str) -> bool:
    """Does ``name`` read as a news outlet rather than a person?"""
    stripped = normalize_space(name)
    key = stripped.casefold()
    if not key:
        return False
    if key in KNOWN_OUTLETS or key.removeprefix("the ") in KNOWN_OUTLETS:
        return True
    if any(word in _OUTLET_WORDS for word in re.findall(r"[^\W_]+", key)):
        return True
    return _ACRONYM_RE.fullmatch(stripped) is not None


def _looks_like_person(name: str) -> bool:
    words = name.split()
    if not 1 <= len(words) <= 6 or len(name) > 80:
        return False
    if re.search(r"[\d,;:!?\"“”()\[\]]", name):
        return False
    return all(w[0].isupper() or w.casefold() in _NAME_PARTICLES or w == "&" for w in words)


def _body_byline(body_html: str) -> tuple[str, str]:
    """(person, outlet) from a leading "By Jane Doe" / "By Name · The Canadian Press"."""
    head = body_html[:_BYLINE_SCAN]
    if "by" not in head.casefold():
        return "", ""
    first_text = head.split("<p", 1)[0]
    candidates = [first_text, *(m.group(1) for m in _PARAGRAPH_RE.finditer(head))][:4]
    for fragment in candidates:
        first_line = _BR_RE.split(fragment, 1)[0]
        text = html_to_text(first_line)
        m = _BY_LINE_RE.match(text)
        if not m:
            continue
        person, _, outlet = _BYLINE_SEPARATORS_RE.sub("\x1f", m["line"], count=1).partition("\x1f")
        person = person.strip(" .")
        if _looks_like_person(person):
            return clean_text(person, 200), clean_text(outlet, 200)
    return "", ""


def parse_byline(creator: str, body_html: str = "") -> tuple[str, str]:
    """(person, outlet) from a dc:creator/author value, per feed-sources.md §2.1.

    "Name, Outlet" and "Name, Outlet @handle" split at the first comma; a lone outlet
    ("CBC News") takes the person from a leading "By Jane Doe" paragraph of ``body_html``; a
    lone name ("Thomas Nilsen") is the person with outlet "".
    """
    text = _HANDLES_RE.sub("", clean_text(creator or "", 300))
    text = _BY_PREFIX_RE.sub("", text).strip()
    if text.startswith("@") or ("@" in text and " " not in text):
        text = ""  # a handle or an e-mail address alone names nobody
    person = outlet = ""
    if "," in text:
        first, rest = text.split(",", 1)
        person, outlet = first.strip(), rest.strip()
    elif text:
        if is_outlet(text):
            outlet = text
        else:
            person = text
    if not person and body_html:
        by_person, by_outlet = _body_byline(body_html)
        person = by_person
        outlet = outlet or by_outlet
    return person, outlet
