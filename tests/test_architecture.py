"""Static guards on the code itself (threats.md §1 "the design that follows", S5, M2, §4).

* Only feeds/ingest/fetching.py talks to the network: no ``requests.``, ``urlopen(``, ``httpx`` or
  ``socket.create_connection`` anywhere else under feeds/ (comments and strings aside).
* Feeds are never parsed by an XML library that can expand external entities: no
  ``resolve_entities=True``, ``lxml.etree.fromstring``, ``XMLParser(`` or
  ``BeautifulSoup(…, "xml")`` under feeds/.
* ``|safe``, ``mark_safe`` and ``{% autoescape off %}`` only where this file allows them, each
  with the reason it is safe. A new use fails here until someone adds it, with its reason.
* No model change without its migration.

Each detector is first shown a known-bad snippet, so a pattern that silently stopped matching
cannot make the guard pass.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import tokenize
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.conftest import ROOT

FEEDS = ROOT / "feeds"
TEMPLATES = ROOT / "templates"
NETWORK_MODULE = FEEDS / "ingest" / "fetching.py"

NETWORK_PATTERNS = {
    "requests.": re.compile(r"\brequests\s*\."),
    "urlopen(": re.compile(r"\burlopen\s*\("),
    "httpx": re.compile(r"\bhttpx\b"),
    "socket.create_connection": re.compile(r"\bsocket\s*\.\s*create_connection\b"),
    "import of an HTTP client": re.compile(
        r"^\s*(?:import|from)\s+(?:requests|httpx|urllib3|aiohttp|urllib\.request|http\.client)\b",
        re.MULTILINE,
    ),
}
XML_PATTERNS = {
    "resolve_entities=True": re.compile(r"\bresolve_entities\s*=\s*True\b"),
    "lxml.etree.fromstring": re.compile(r"\blxml\s*\.\s*etree\s*\.\s*fromstring\b"),
    "from lxml.etree import fromstring": re.compile(
        r"^\s*from\s+lxml\.etree\s+import\s+[^\n]*\bfromstring\b", re.MULTILINE
    ),
    "XMLParser(": re.compile(r"\bXMLParser\s*\("),
}

# Every place feed-derived text may be marked safe, and why that is safe.
# None: the story page's sanitised summary and body go through the story_html filter below.
ALLOWED_SAFE_TEMPLATE_USES: Counter = Counter()
ALLOWED_MARK_SAFE = Counter(
    {
        # <time> markup built here from a datetime; the label and title are escape()d.
        ("feeds/web/templatetags.py", "_timeago"): 1,
        # json.dumps with <, > and & escaped: nothing can close the <script> element.
        ("feeds/web/templatetags.py", "jsonld"): 1,
        # tag names and URLs escape()d, the <li><a> markup is ours.
        ("feeds/web/templatetags.py", "tag_links"): 1,
        # story cards: every value escaped by _card (headlines and snippets of search results
        # are highlight_html's), the markup around them is ours.
        ("feeds/web/templatetags.py", "_cards_html"): 1,
        # a story's credit (the cards' own _credit): the outlets' names and the source page's
        # URL escaped, the <span> and <a> markup is ours.
        ("feeds/web/templatetags.py", "credit"): 1,
        # a story's nh3-sanitised summary or body (feeds.text.sanitizing.clean_html at ingest,
        # the one field type meant to be HTML) with its <img> elements cut out of nh3's
        # serialisation, which escapes < and > inside attribute values.
        ("feeds/web/templatetags.py", "story_html"): 1,
        # search snippets: every feed-derived part escape()d, the only tags are our <mark>s.
        ("feeds/search.py", "highlight_html"): 1,
    }
)
_SAFE_FILTER = re.compile(r"\{\{\s*([^{}]*?\|\s*safe(?:seq)?\b[^{}]*?)\s*\}\}")
_SAFE_ANYWHERE = re.compile(r"\|\s*safe(?:seq)?\b")
_AUTOESCAPE_OFF = re.compile(r"\{%-?\s*autoescape\s+off\s*-?%\}")


def code_without_strings_and_comments(source: str) -> str:
    """The source with every comment and string literal blanked (positions kept)."""
    lines = source.splitlines(keepends=True)
    blanked = [list(line) for line in lines]
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.COMMENT, tokenize.STRING):
            continue
        (start_row, start_col), (end_row, end_col) = token.start, token.end
        for row in range(start_row, end_row + 1):
            chars = blanked[row - 1]
            first = start_col if row == start_row else 0
            last = end_col if row == end_row else len(chars)
            for col in range(first, last):
                if chars[col] != "\n":
                    chars[col] = " "
    return "".join("".join(chars) for chars in blanked)


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def pattern_hits(path: Path, patterns: dict[str, re.Pattern]) -> list[str]:
    code = code_without_strings_and_comments(path.read_text())
    return [f"{relative(path)}: {name}" for name, rx in patterns.items() if rx.search(code)]


def xml_soup_calls(path: Path) -> list[str]:
    """BeautifulSoup(..., "xml") / features="lxml-xml": bs4's XML mode (lxml underneath)."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name != "BeautifulSoup":
            continue
        values = [*node.args, *(k.value for k in node.keywords)]
        for value in values:
            if isinstance(value, ast.Constant) and str(value.value).lower() in {"xml", "lxml-xml"}:
                hits.append(f"{relative(path)}:{node.lineno}: BeautifulSoup(..., {value.value!r})")
    return hits


def mark_safe_calls(path: Path) -> Counter:
    """(file, enclosing function) for every mark_safe(...) or SafeString(...) call."""
    found: Counter = Counter()
    tree = ast.parse(path.read_text())

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if isinstance(child, ast.Call):
                func = child.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if called in {"mark_safe", "SafeString", "SafeText"}:
                    found[(relative(path), function or "<module>")] += 1
            visit(child, name)

    visit(tree, "")
    return found


def template_files() -> list[Path]:
    return sorted(
        p for p in TEMPLATES.rglob("*") if p.is_file() and p.suffix in {".html", ".txt", ".xml"}
    )


def safe_template_uses(path: Path) -> tuple[Counter, list[str]]:
    """(file, expression) per ``{{ …|safe }}``; plus any |safe or autoescape off not in one."""
    text = path.read_text()
    uses = Counter((relative(path), " ".join(m.split())) for m in _SAFE_FILTER.findall(text))
    stray = []
    if len(_SAFE_ANYWHERE.findall(text)) != sum(uses.values()):
        stray.append(f"{relative(path)}: |safe outside a {{{{ }}}} expression (e.g. a tag)")
    if _AUTOESCAPE_OFF.search(text):
        stray.append(f"{relative(path)}: {{% autoescape off %}}")
    return uses, stray


# --- the detectors work -------------------------------------------------------------------------


def test_the_detectors_catch_what_they_look_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import requests\n"
        "from urllib.request import urlopen\n"
        "import httpx\n"
        "import socket\n"
        "from bs4 import BeautifulSoup\n"
        "from lxml import etree\n"
        "import lxml.etree\n"
        "def f(url):\n"
        "    requests.get(url)\n"
        "    urlopen(url)\n"
        "    socket.create_connection(('h', 1))\n"
        "    lxml.etree.fromstring(b'')\n"
        "    etree.XMLParser(resolve_entities=True)\n"
        "    BeautifulSoup(b'', 'xml')\n"
        "    BeautifulSoup(b'', features='lxml-xml')\n"
        "    return mark_safe(url)\n"
    )
    network = pattern_hits(bad, NETWORK_PATTERNS)
    assert len(network) == len(NETWORK_PATTERNS), network
    xml = pattern_hits(bad, XML_PATTERNS)
    assert {h.split(": ", 1)[1] for h in xml} >= {
        "resolve_entities=True",
        "lxml.etree.fromstring",
        "XMLParser(",
    }
    assert len(xml_soup_calls(bad)) == 2
    assert list(mark_safe_calls(bad).values()) == [1]

    quiet = tmp_path / "quiet.py"
    quiet.write_text(
        '"""Talks about requests.get and urlopen( and httpx in prose only."""\n'
        "# socket.create_connection in a comment\n"
        "X = 'resolve_entities=True and XMLParser( in a string'\n"
        "from bs4 import BeautifulSoup\n"
        "def g(html):\n"
        "    return BeautifulSoup(html, 'html.parser')\n"
    )
    assert pattern_hits(quiet, NETWORK_PATTERNS) == []
    assert pattern_hits(quiet, XML_PATTERNS) == []
    assert xml_soup_calls(quiet) == []

    template = tmp_path / "t.html"
    template.write_text(
        "{{ a|safe }} {{ b | safe }} {% if c|safe %}{% endif %}{% autoescape off %}{{ d }}"
    )
    uses, stray = safe_template_uses(template)
    assert sum(uses.values()) == 2 and len(stray) == 2


# --- the rules ----------------------------------------------------------------------------------


def test_only_fetching_talks_to_the_network():
    modules = [p for p in python_files(FEEDS) if p != NETWORK_MODULE]
    assert len(modules) > 20
    hits = [hit for path in modules for hit in pattern_hits(path, NETWORK_PATTERNS)]
    assert not hits, "network access outside feeds/ingest/fetching.py:\n" + "\n".join(hits)
    # The one module that does is the one that is meant to.
    assert pattern_hits(NETWORK_MODULE, NETWORK_PATTERNS)


def test_no_feed_is_parsed_by_an_entity_expanding_xml_parser():
    hits = [
        hit
        for path in python_files(FEEDS)
        for hit in pattern_hits(path, XML_PATTERNS) + xml_soup_calls(path)
    ]
    assert not hits, "XML parsing that can expand entities:\n" + "\n".join(hits)


def test_markup_is_marked_safe_only_where_allowed():
    template_uses: Counter = Counter()
    stray: list[str] = []
    for path in template_files():
        uses, problems = safe_template_uses(path)
        template_uses += uses
        stray += problems
    assert not stray, stray
    assert template_uses == ALLOWED_SAFE_TEMPLATE_USES, (
        "|safe uses changed; update ALLOWED_SAFE_TEMPLATE_USES with the reason each is safe: "
        f"found {dict(template_uses)}"
    )

    calls: Counter = Counter()
    raw: list[str] = []
    for path in python_files(FEEDS) + python_files(ROOT / "arcticnews"):
        calls += mark_safe_calls(path)
        text = path.read_text()
        if _SAFE_ANYWHERE.search(text) or _AUTOESCAPE_OFF.search(text):
            raw.append(relative(path))  # a template string in Python code
    assert calls == ALLOWED_MARK_SAFE, (
        "mark_safe uses changed; update ALLOWED_MARK_SAFE with the reason each is safe: "
        f"found {dict(calls)}"
    )
    assert not raw, f"|safe or autoescape off inside Python code: {raw}"


def test_template_comments_close_on_their_line():
    """Django's {# … #} comment is one line: one that runs on is printed to readers as text
    (the story page showed "{# The caption is the image's text: …" above its image)."""
    unclosed = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in template_files()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if line.count("{#") > line.count("#}")
    ]
    assert not unclosed, f"{{# … #}} over several lines (use {{% comment %}}): {unclosed}"


@pytest.mark.django_db
def test_no_model_change_lacks_its_migration():
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as exc:
        pytest.fail(f"pending migrations (makemigrations --check exited {exc.code})")


def _layout_script():
    spec = importlib.util.spec_from_file_location("layout", ROOT / "scripts" / "layout.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_module_says_what_it_is_and_docs_layout_shows_it_as_it_is():
    """docs/layout.md's tree is made from the modules' docstrings (scripts/layout.py): a module
    added, moved or described anew without regenerating it fails here."""
    layout = _layout_script()
    tree = layout.tree()
    undescribed = [line.strip() for line in tree.splitlines() if re.fullmatch(r"\s*\w+\.py", line)]
    assert not undescribed, f"modules without a docstring (or a command's help): {undescribed}"
    assert "  ingest/" in tree and "fetching.py" in tree  # the generator walks the packages
    doc = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    assert tree in doc, "docs/layout.md is stale: run `.venv/bin/python scripts/layout.py --write`"
