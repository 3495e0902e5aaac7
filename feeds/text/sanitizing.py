"""Turn untrusted feed strings into safe HTML, plain text and http(s) URLs.

Pure functions, no Django. nh3 is the only HTML sanitiser that counts: feedparser runs with
its own sanitiser and URI resolution switched off (performance-baselines.md F1), so relative
URLs are resolved here, while sanitising.
"""

from __future__ import annotations

import functools
import html as htmllib
import logging
import re
from contextvars import ContextVar
from urllib.parse import urljoin, urlsplit

import nh3

logger = logging.getLogger(__name__)

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "LINK_REL",
    "MAX_HTML_LENGTH",
    "MAX_URL_LENGTH",
    "URL_SCHEMES",
    "clean_html",
    "clean_html_to_text",
    "clean_text",
    "html_to_text",
    "leading_text",
    "normalize_space",
    "safe_url",
    "separating_spaces",
    "strip_controls",
    "teaser_html",
    "too_deeply_nested",
    "typed_text",
    "typed_url_problem",
    "without_images",
]

MAX_HTML_LENGTH = 512 * 1024  # characters; threats.md D4 caps bodies at 512 KB
MAX_URL_LENGTH = 2048
LINK_REL = "noopener nofollow"
URL_SCHEMES = frozenset({"http", "https", "mailto"})

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dl",
        "dt", "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
        "ins", "li", "ol", "p", "pre", "q", "s", "small", "strong", "sub", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "width", "height", "title"}),
    "abbr": frozenset({"title"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
    "ol": frozenset({"start"}),
}
# Dropped together with their content: their text is code, fallback or widget chrome, and
# svg/math/noscript are the foreign-content mXSS surface (threats.md X4).
_DROP_WITH_CONTENT = frozenset(
    {
        "applet", "embed", "form", "frame", "frameset", "iframe", "math", "noembed",
        "noframes", "noscript", "object", "script", "select", "style", "svg", "template",
        "textarea", "title", "xmp",
    }
)  # fmt: skip

# C0 controls except \t \n \r (PostgreSQL rejects NUL, Django's feedgenerator rejects the
# rest), lone surrogates (not encodable to UTF-8, so neither nh3 nor psycopg accept them) and
# the two XML 1.0 non-characters.
_CONTROLS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_C0_BYTES = bytes(c for c in range(0x20) if c not in b"\t\n\r")
_URL_JUNK_RE = re.compile("[\x00-\x20\x7f]")
# Block-level boundaries become spaces in plain text, so "<p>a</p><p>b</p>" is "a b".
_BLOCK_BOUNDARY_RE = re.compile(
    r"<(?:br|/?(?:p|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|figure|figcaption|pre"
    r"|section|article|header|footer|aside|dd|dt|hr))\b[^>]*>",
    re.IGNORECASE,
)
_ELLIPSIS = "…"
# What clean_html returns was serialised by html5ever: lower-case tag names, attribute values
# in double quotes, "<" and ">" in text as entities, no comments. In that form a tag is
# exactly this pattern (one cut open at the end of a window included), so its text needs no
# second parse.
_SERIALISED_TAG = r'[^<>"]*(?:"[^"]*"[^<>"]*)*(?:>|"[^"]*\Z|\Z)'
_SERIALISED_BLOCK_RE = re.compile(
    r"<(?:br|/?(?:p|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|figure|figcaption|pre"
    r"|section|article|header|footer|aside|dd|dt|hr))\b" + _SERIALISED_TAG
)
_SERIALISED_TAG_RE = re.compile("<" + _SERIALISED_TAG)
# In the same serialised form: a figure holding an image (figures do not nest in article
# markup), an image, and the link or paragraph an image leaves empty.
_SERIALISED_IMAGE_FIGURE_RE = re.compile(
    r"<figure\b" + _SERIALISED_TAG + r"(?:(?!</figure>).)*?<img\b.*?</figure>", re.DOTALL
)
_SERIALISED_IMG_RE = re.compile(r"<img\b" + _SERIALISED_TAG)
_SERIALISED_EMPTY_RE = re.compile(r"<(a|p)\b" + _SERIALISED_TAG + r"\s*</\1>")
# A clean fragment as tags and runs of text, and a run's words (entities hold no spaces).
_SERIALISED_TOKEN_RE = re.compile("<" + _SERIALISED_TAG + "|[^<]+")
_WORD_RE = re.compile(r"\S+")
_SPACES_RE = re.compile(r"\s+")  # what separates _WORD_RE's words
TEASER_WORDS = 60
TEASER_CHARS = 400

MAX_UNCLOSED_TAGS = 256
# Tags whose open instances make an HTML5 parser's per-tag work grow: the containers that
# "close a p element" (scope walks) and the formatting elements (reconstruction, adoption).
_NESTING_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir",
        "div", "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup",
        "listing", "main", "menu", "nav", "ol", "pre", "search", "section", "summary", "ul",
        "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong",
        "tt", "u",
    }
)  # fmt: skip
_TAG_NAME_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
_TAG_RE = re.compile(r"<[^>]*(?:>|$)")  # an unterminated trailing tag too
_SCRIPT_STYLE_RE = re.compile(
    r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL
)

# Base URL of the clean_html() call in progress, read by nh3's url_relative callback: lets
# one Cleaner serve every base URL.
_current_base: ContextVar[str] = ContextVar("arcticnews_clean_html_base", default="")


def strip_controls(s: str) -> str:
    """Remove C0 control characters (except tab, newline, CR), lone surrogates and U+FFFE/F."""
    if not s:
        return ""
    # Nearly every string has none, and proving that costs the regex 3 ns a character, run
    # on every article body more than once. In UTF-8 a byte below 0x20 is always that C0
    # character, and only a lone surrogate fails to encode, so this says "none" exactly and
    # about three times faster.
    try:
        encoded = s.encode("utf-8")
    except UnicodeEncodeError:
        return _CONTROLS_RE.sub("", s)
    if (
        len(encoded.translate(None, _C0_BYTES)) == len(encoded)
        and "\ufffe" not in s
        and "\uffff" not in s
    ):
        return s
    return _CONTROLS_RE.sub("", s)


# What an editor's typing never needs: C0 controls but tab, newline and CR, DEL, C1 controls,
# lone surrogates and the non-characters U+FFFE/F (pasted from a word processor, a terminal,
# a badly decoded page). A run of them is one gap.
_TYPED_CONTROLS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]+")
# Unicode's explicit direction controls: after U+202E (RIGHT-TO-LEFT OVERRIDE) ".../\u202egnp.exe"
# is shown as ".../exe.png". No address an editor links needs one.
_DIRECTION_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def separating_spaces(pattern: re.Pattern[str], text: str) -> str:
    """``text`` with each match of ``pattern`` made one space where it stands between two
    other characters, and removed at either end or beside whitespace: a control character
    typed (or stored) between two words separates them ("Edited\x0btitle" is "Edited
    title", never "Editedtitle")."""

    def gap(match: re.Match[str]) -> str:
        start, end = match.span()
        if start == 0 or end == len(text) or text[start - 1].isspace() or text[end].isspace():
            return ""
        return " "

    return pattern.sub(gap, text) if text else ""


def typed_text(text: str, *, multiline: bool = False) -> str:
    """Text an editor typed, as it is stored: control characters separate words
    (``separating_spaces``) and are never kept. One line (a headline, a name) has its
    whitespace collapsed; ``multiline`` text (a description, a body) keeps its line breaks
    and tabs, with CR LF as LF."""
    text = separating_spaces(_TYPED_CONTROLS_RE, text or "")
    if not multiline:
        return normalize_space(text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def typed_url_problem(url: str) -> str | None:
    """Why an address an editor typed must not be linked, in words for the form; None when
    nothing in it disguises where it leads (whether it is http(s) is ``safe_url``'s test)."""
    if any(c in _DIRECTION_CONTROLS for c in url):
        return (
            "This address contains invisible characters that change the direction of the "
            "text after them (such as U+202E), which can disguise where it leads. "
            "Type the address again, or copy it from the browser's address bar."
        )
    try:
        netloc = urlsplit(url.strip()).netloc
    except ValueError:
        return None  # not an address at all: the caller's own check says so
    if "@" in netloc:
        return (
            "This address has a user name or password before an @ (user:password@host), "
            "which can disguise the site it leads to. Link the story's own address, "
            "without them."
        )
    return None


def normalize_space(s: str) -> str:
    """Collapse every run of whitespace (NBSP included) to one space and trim."""
    # str.split() and the regex's \s are the same Unicode whitespace test (Py_UNICODE_ISSPACE),
    # and split/join is several times faster than a substitution on article-sized text.
    return " ".join(s.split())


def safe_url(url: str, base: str = "") -> str:
    """Return ``url`` resolved against ``base`` if the result is an http(s) URL, else ""."""
    if not url:
        return ""
    # Browsers drop tabs/newlines anywhere and controls/spaces at the ends before reading the
    # scheme, so "java\nscript:" and " JaVaScRiPt:" must be judged the way a browser sees them.
    candidate = _CONTROLS_RE.sub("", url).strip("\x00\x20\t\n\r\x0c")
    candidate = candidate.replace("\t", "").replace("\n", "").replace("\r", "")
    if not candidate or len(candidate) > MAX_URL_LENGTH:
        return ""
    try:
        if base:
            base = _safe_base(base)
            if base:
                candidate = urljoin(base, candidate)
        parts = urlsplit(candidate)
    except ValueError:  # e.g. "http://[::1" (invalid IPv6 netloc)
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return ""
    if not candidate.startswith(scheme):
        candidate = scheme + candidate[len(scheme) :]
    # A bare space is not a valid URL character; browsers percent-encode it, so do we.
    candidate = _URL_JUNK_RE.sub(lambda m: f"%{ord(m.group()):02X}", candidate)
    return candidate if len(candidate) <= MAX_URL_LENGTH else ""


# Every URL in an article is resolved against the same base; checking it once is enough.
_safe_base = functools.lru_cache(maxsize=1024)(safe_url)


def _resolve_relative(url: str) -> str | None:
    """nh3 callback for relative href/src values: resolve, or drop when there is no base."""
    base = _current_base.get()
    if not base:
        return None
    return safe_url(url, base) or None


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    strip_comments=True,
    url_relative=_resolve_relative,
)
# Plain-text extraction: every tag removed, the text of the dropped-with-content tags too.
_TEXT_CLEANER = nh3.Cleaner(
    tags=set(),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes={},
    link_rel=None,
    strip_comments=True,
)


def too_deeply_nested(html: str) -> bool:
    """Would an HTML5 parse of ``html`` hit its quadratic paths?

    html5ever (inside nh3), like every HTML5 parser, does per-tag work proportional to the
    number of open block containers and unclosed formatting elements: 100,000 nested
    ``<div>`` take minutes (threats.md D4). Article markup keeps both small, so counting
    opened-but-not-closed tags with a regex (linear) tells hostile input apart.
    """
    if html.count("<") <= MAX_UNCLOSED_TAGS:
        return False
    unclosed: dict[str, int] = {}
    total = 0
    for m in _TAG_NAME_RE.finditer(html):
        name = m.group(2).lower()
        if name not in _NESTING_TAGS:
            continue
        if m.group(1):
            if unclosed.get(name):
                unclosed[name] -= 1
                total -= 1
        else:
            unclosed[name] = unclosed.get(name, 0) + 1
            total += 1
            if total > MAX_UNCLOSED_TAGS:
                return True
    return False


def _flat_text(html: str) -> str:
    """Linear-time text of hostile markup: regex tag stripping, good enough to read."""
    text = _TAG_RE.sub(" ", _SCRIPT_STYLE_RE.sub(" ", html))
    return normalize_space(strip_controls(htmllib.unescape(text)))


def clean_html(html: str, base_url: str = "") -> str:
    """Sanitise an HTML fragment with the news allow-list.

    Relative ``href``/``src`` values are resolved against ``base_url`` (dropped if there is no
    usable base); only http, https and mailto URLs survive; links get ``rel="noopener
    nofollow"``. The input is cut to ``MAX_HTML_LENGTH`` *before* sanitising, so a cut never
    leaves a broken tag. Markup nested deeply enough to stall an HTML5 parser comes back as
    one escaped text paragraph instead.
    """
    if not html:
        return ""
    if len(html) > MAX_HTML_LENGTH:
        logger.warning("HTML truncated from %d to %d characters", len(html), MAX_HTML_LENGTH)
    source = strip_controls(html[:MAX_HTML_LENGTH])
    if too_deeply_nested(source):
        logger.warning(
            "HTML nested too deeply to sanitise (%d characters): kept as text", len(source)
        )
        text = _flat_text(source)
        return f"<p>{htmllib.escape(text, quote=False)}</p>" if text else ""
    token = _current_base.set(safe_url(base_url))
    try:
        out = _CLEANER.clean(source)
        # Escaping and the added rel attributes can grow the output past the cap.
        while len(out) > MAX_HTML_LENGTH and source:
            source = source[: max(len(source) - (len(out) - MAX_HTML_LENGTH) - 1024, 0)]
            out = _CLEANER.clean(source)
    finally:
        _current_base.reset(token)
    return _without_decoded_controls(out, source)


def html_to_text(html: str) -> str:
    """Fast plain text of an HTML fragment, entities decoded once, whitespace collapsed."""
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return normalize_space(strip_controls(html))
    source = strip_controls(html[:MAX_HTML_LENGTH])
    if too_deeply_nested(source):
        return _flat_text(source)
    spaced = _BLOCK_BOUNDARY_RE.sub(" ", source)
    text = htmllib.unescape(_TEXT_CLEANER.clean(spaced))
    return normalize_space(_without_decoded_controls(text, source))


def clean_html_to_text(html: str) -> str:
    """``html_to_text`` of what ``clean_html`` returned (or of a cut of it), without parsing
    it again: stored bodies are clean, and the tagger and dedupe keys read their text."""
    if not html:
        return ""
    spaced = _SERIALISED_BLOCK_RE.sub(" ", html)
    return normalize_space(htmllib.unescape(_SERIALISED_TAG_RE.sub("", spaced)))


def without_images(html: str) -> str:
    """What ``clean_html`` returned, without its images, their figures (captions and
    credits of a picture no longer there) and the links or paragraphs they leave empty.

    Stored summaries and bodies keep the outlet's ``<img>`` (our feeds carry them, and the
    lead image is read from them), but pages show only the copy a worker re-encoded: their
    content-security policy loads images from our origin alone, so an outlet's image would be
    a broken one whose alt text (CBC North's: the headline) is read a second time.
    """
    if "<img" not in html:
        return html
    out = _SERIALISED_IMG_RE.sub("", _SERIALISED_IMAGE_FIGURE_RE.sub("", html))
    # Twice: a paragraph that held only a linked image is empty once its link is gone.
    return _SERIALISED_EMPTY_RE.sub("", _SERIALISED_EMPTY_RE.sub("", out))


def teaser_html(html: str, max_words: int = TEASER_WORDS, max_chars: int = TEASER_CHARS) -> str:
    """The opening of what ``clean_html`` returned, as a standfirst may show it: its first
    paragraph, cut at a word boundary with an ellipsis past ``max_words`` words or
    ``max_chars`` characters of text, tags closed again.

    Some feeds put the whole article (or megabytes of it) in the summary; an outlet that does
    not let us show full text must not be republished through it. Only the opening is read,
    so a 5 MB summary costs no more than a short one.
    """
    # The first paragraph with text in it: one holding only an image shows nothing on pages.
    end = html.find("</p>")
    while end >= 0 and not clean_html_to_text(html[:end]):
        end = html.find("</p>", end + 1)
    first = html[: end + len("</p>")] if end >= 0 else html
    # Most openings are short: then no cut is possible, and the word-by-word count below is
    # not needed. A word's characters (unescaped: never more) and the one counted between two
    # words all lie in ``first``, and every word but the first follows a space or a tag.
    most_words = 1 + len(_SPACES_RE.findall(first)) + first.count("<")
    if len(first) <= max_chars and most_words <= max_words:
        return first
    return _cut_opening(first, max_words, max_chars)


def _cut_opening(first: str, max_words: int, max_chars: int) -> str:
    """``first`` (clean HTML), cut at the word that passes ``max_words`` words or
    ``max_chars`` characters of text, with an ellipsis and its tags closed."""
    words = chars = 0
    kept: list[str] = []
    for token in _SERIALISED_TOKEN_RE.finditer(first):
        run = token.group()
        if run.startswith("<"):
            kept.append(run)
            continue
        for word in _WORD_RE.finditer(run):
            words += 1
            chars += len(htmllib.unescape(word.group())) + (words > 1)
            if words > max_words or chars > max_chars:
                kept.append(run[: word.start()].rstrip() + _ELLIPSIS)
                # Re-sanitising the cut closes the tags it left open (and it is short).
                return clean_html("".join(kept))
        kept.append(run)
    return first


def _without_decoded_controls(out: str, source: str) -> str:
    """``out`` of nh3 for a ``source`` already free of controls, without the ones that a
    character reference such as ``&#11;`` decodes to (no named reference names a forbidden
    one). Most bodies have no numeric reference, and then no second scan is needed."""
    return strip_controls(out) if "&#" in source else out


# Text a cut through HTML can change at its end: a half word, a half entity, a tag cut open.
_CUT_MARGIN = 64


def leading_text(html: str, length: int, *, clean: bool = False) -> str:
    """``html_to_text(html)[:length]``, converting only as much of the HTML as that needs;
    ``clean=True`` for what ``clean_html`` returned (``clean_html_to_text``).

    Taggers and dedupe keys read a story's opening; converting a whole 50 KB body to keep
    800 characters of it is most of their cost. Windows of the HTML grow until one yields the
    text with room to spare past ``length`` (markup is rarely most of an opening, but a
    gallery or an embed can be), and the whole fragment is the last resort.
    """
    to_text = clean_html_to_text if clean else html_to_text
    for window in (3 * length, 8 * length):
        if window >= len(html):
            break
        text = to_text(html[:window])
        if len(text) >= length + _CUT_MARGIN:
            return text[:length]
    return to_text(html)[:length]


def clean_text(s: str, max_length: int = 1000, *, is_html: bool = False) -> str:
    """Plain text for titles, names and labels.

    ``is_html=False`` (RSS titles, categories, names): ``s`` is text that the XML parser has
    already decoded once, so it is kept literally: ``A <img src=x>`` stays those characters
    (autoescaping protects the page) and a doubly escaped ``&amp;#8217;``, which arrives as
    ``&#8217;``, stays ``&#8217;``. ``is_html=True`` (Atom ``type="html"``): tags are stripped
    and entities decoded once. Either way: no control characters, whitespace (NBSP included)
    collapsed, and at most ``max_length`` characters, ending in an ellipsis when cut.
    """
    if not s:
        return ""
    if is_html:
        text = html_to_text(s)
    else:
        # Only what can be kept is normalised, so a 5 MB title costs no more than a short one.
        text = normalize_space(strip_controls(s[: max_length * 4 + 64]))
    if len(text) > max_length:
        cut = text[: max(max_length - 1, 0)]
        # Prefer a word boundary if one is reasonably close to the cut.
        space = cut.rfind(" ")
        if space >= max_length * 0.8:
            cut = cut[:space]
        text = cut.rstrip() + _ELLIPSIS if max_length > 0 else ""
    return text
