"""The rendered-HTML check of threats.md §2 step 3, shared by the corpus and hostile-feed tests.

A page passes when html5lib finds in it

* no ``script/iframe/object/embed/base/meta/link/style/form/svg/math`` element that our own
  templates did not put there: each such element must match one of an empty story page's own
  (the *baseline*), by tag, attribute names and identifying values (``rel``, ``type``, ``name``
  ...), and in ``<body>`` no more of them than the baseline has; inside the containers that
  hold feed HTML there must be none at all;
* no ``on*`` attribute anywhere;
* no ``href/src/action/formaction/xlink:href`` whose value, with ASCII whitespace and control
  characters removed and lower-cased, starts with ``javascript:``, ``vbscript:`` or ``data:``.

html5lib decodes entities the way a browser does, so ``&#106;avascript:`` is caught too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import html5lib

FORBIDDEN = frozenset(
    {"script", "iframe", "object", "embed", "base", "meta", "link", "style", "form", "svg", "math"}
)
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "poster", "background"})
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
# Containers whose inner HTML comes from feeds (story page: standfirst and body).
FEED_HTML_CLASSES = frozenset({"story__standfirst", "story__body"})
_IDENTIFYING = ("rel", "type", "name", "property", "http-equiv", "class", "method", "role")
_JUNK = re.compile(r"[\x00-\x20\x7f]")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def _attrs(element) -> dict[str, str]:
    return {_local(k): v for k, v in element.attrib.items()}


def _signature(element) -> tuple:
    attrs = _attrs(element)
    return (
        _local(element.tag),
        tuple(sorted(attrs)),
        tuple((k, attrs[k]) for k in _IDENTIFYING if k in attrs),
    )


def bad_url(value: str) -> bool:
    return _JUNK.sub("", value).lower().startswith(BAD_SCHEMES)


def parse(html: str):
    return html5lib.parse(html, namespaceHTMLElements=False)


@dataclass
class Baseline:
    """Our own elements of the FORBIDDEN kinds, from a page with no feed content."""

    head: set[tuple] = field(default_factory=set)
    body: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, html: str) -> Baseline:
        tree = parse(html)
        baseline = cls()
        for element in _forbidden(tree.find("head")):
            baseline.head.add(_signature(element))
        for element in _forbidden(tree.find("body")):
            baseline.body[_signature(element)] += 1
        return baseline


def _forbidden(root) -> list:
    if root is None:
        return []
    return [e for e in root.iter() if isinstance(e.tag, str) and _local(e.tag) in FORBIDDEN]


def attribute_problems(root) -> list[str]:
    problems = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in _attrs(element).items():
            if name.startswith("on"):
                problems.append(f"<{_local(element.tag)} {name}=...>")
            elif name in URL_ATTRIBUTES and bad_url(value):  # xlink:href is "href" here
                problems.append(f"<{_local(element.tag)} {name}={value[:60]!r}>")
    return problems


def page_problems(html: str, baseline: Baseline) -> list[str]:
    """Everything on a rendered page that the check forbids; [] when the page is clean."""
    tree = parse(html)
    problems = attribute_problems(tree)
    head, body = tree.find("head"), tree.find("body")
    for element in _forbidden(head):
        if _signature(element) not in baseline.head:
            problems.append(
                f"<{_local(element.tag)}> in <head> not from our template: {element.attrib}"
            )
    counts = Counter(_signature(e) for e in _forbidden(body))
    for signature, n in counts.items():
        if n > baseline.body[signature]:
            problems.append(f"{n - baseline.body[signature]} extra <{signature[0]}> {signature}")
    for container in tree.iter():
        classes = set((container.get("class") or "").split())
        if isinstance(container.tag, str) and classes & FEED_HTML_CLASSES:
            for element in _forbidden(container):
                problems.append(f"<{_local(element.tag)}> inside feed HTML")
    return problems


def fragment_problems(html: str) -> list[str]:
    """The check on a fragment of feed HTML (a description in our outgoing feeds)."""
    fragment = html5lib.parseFragment(html, namespaceHTMLElements=False)
    problems = attribute_problems(fragment)
    problems += [f"<{_local(e.tag)}> in feed HTML" for e in _forbidden(fragment)]
    return problems


def story_page_baseline(client) -> Baseline:
    """Our own script/meta/link/form/svg elements, from a story page without feed HTML.

    Every optional part of the story template is switched on (standfirst, body, image, update
    time, a country tag) with benign text, so every element our template can make is in it.
    The story is deleted again afterwards.
    """
    from datetime import UTC, datetime, timedelta

    from feeds.generation import bump_generation
    from feeds.models import Country, Feed, Source, Story, StoryCountry

    source = Source.objects.create(name="Baseline Outlet", slug="baseline-outlet")
    source.show_full_text = True
    source.save()
    feed = Feed.objects.create(source=source, url="https://baseline.invalid/feed.xml")
    when = datetime(2000, 1, 1, tzinfo=UTC)
    story = Story.objects.create(
        feed=feed,
        source=source,
        guid="baseline",
        title="Baseline",
        link="https://baseline.invalid/1",
        summary="<p>Baseline standfirst.</p>",
        content="<p>Baseline body.</p>",
        image_url="https://baseline.invalid/1.jpg",
        image_caption="Baseline caption",
        image_credit="Baseline credit",
        published_at=when,
        first_seen_at=when,
        source_updated_at=when + timedelta(days=1),
    )
    country = Country.objects.first()
    if country is not None:
        StoryCountry.objects.create(story=story, country=country)
        story.primary_country = country
        story.save()
    page = client.get(story.get_absolute_url())
    assert page.status_code == 200
    result = Baseline.of(page.content.decode())
    source.delete()
    bump_generation()
    return result
