"""Template tags for ArcticNews pages: story cards, the related-stories box, times, text."""

from __future__ import annotations

import functools
import html
import json
import re
from datetime import UTC, datetime, tzinfo
from html import escape

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from feeds.models import Country, RelatedSlot, Source, Story, Topic
from feeds.text.sanitizing import without_images

register = template.Library()

_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
# The characters that could end a <script> data block or start a comment inside it.
_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


# --- URLs -------------------------------------------------------------------------------------
# A listing renders well over a hundred links (navigation, tags, headlines); reverse() costs
# ~0.1 ms each, which alone would be half the render time (performance-baselines G9). The
# routes are fixed, so each URL is computed once per process (per URLconf and script prefix).


@functools.lru_cache(maxsize=8192)
def _reverse(urlconf: str | None, prefix: str, viewname: str, args: tuple) -> str:
    return reverse(viewname, args=args, urlconf=urlconf)


def cached_reverse(viewname: str, *args: object) -> str:
    return _reverse(get_urlconf(), get_script_prefix(), viewname, tuple(str(a) for a in args))


def _reverser() -> functools.partial:
    """cached_reverse with the URLconf and script prefix looked up once (they are per-request
    context locals, slow to read): for building many links in a row."""
    return functools.partial(_reverse, get_urlconf(), get_script_prefix())


@register.simple_tag
def link(viewname: str, *args: object) -> str:
    """Like {% url %}, memoised: {% link "feeds:home_rss" %}."""
    return cached_reverse(viewname, *args)


@register.filter
def href(obj: object) -> str:
    """The page of a story, country, topic or source: {{ story|href }}."""
    if isinstance(obj, Story):
        return cached_reverse("feeds:story", obj.pk)
    if isinstance(obj, Country):
        return cached_reverse("feeds:country", obj.slug)
    if isinstance(obj, Topic):
        return cached_reverse("feeds:topic", obj.slug)
    if isinstance(obj, Source):
        return cached_reverse("feeds:source", obj.slug)
    return obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else ""


@register.filter
def slot_url(slot: RelatedSlot) -> str:
    return href(slot.target) if slot.target_id else slot.external_url


# --- Times and text -------------------------------------------------------------------------


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'} ago"


def relative_label(
    value: datetime, now: datetime | None = None, local: datetime | None = None
) -> str:
    """ "3 hours ago" for the last week, then the date: readable in a cached page. ``local``:
    ``value`` in the current time zone, when the caller has it."""
    now = now or timezone.now()
    seconds = int((now - value).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return _plural(seconds // 60, "minute")
    if seconds < 86400:
        return _plural(seconds // 3600, "hour")
    if seconds < 7 * 86400:
        return _plural(seconds // 86400, "day")
    local = local or timezone.localtime(value)
    return f"{local.day} {local:%b %Y}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _exact(value: datetime, local: datetime | None = None) -> str:
    local = local or timezone.localtime(value)
    return f"{local.day} {local:%B %Y, %H:%M} {local.tzname()}"


@register.filter
def timeago(value: datetime | None) -> SafeString | str:
    """<time datetime="ISO" title="exact">2 hours ago</time>, with no JavaScript needed."""
    if not isinstance(value, datetime):
        return ""
    return _timeago(value, timezone.now(), timezone.get_current_timezone())


def _timeago(value: datetime, now: datetime, zone: tzinfo) -> SafeString:
    """``timeago`` with the clock and the time zone read once for a run of cards (each is a
    context-local lookup, and a listing has 20 times)."""
    local = value.astimezone(zone)
    # Safe: every part is generated here from a datetime, and escaped all the same.
    return mark_safe(
        f'<time datetime="{_iso(value)}" title="{escape(_exact(value, local))}">'
        f"{escape(relative_label(value, now, local))}</time>"
    )


@register.filter
def exacttime(value: datetime | None) -> SafeString | str:
    """<time datetime="ISO">28 November 2026, 14:05 UTC</time>."""
    if not isinstance(value, datetime):
        return ""
    return format_html('<time datetime="{}">{}</time>', _iso(value), _exact(value))


@register.filter
def plaintext(value: str, words: int | None = None) -> str:
    """Sanitised HTML as plain text (autoescaped again on output), optionally cut to N words.

    Fast on purpose (a regex, not an HTML parser): the input is nh3's well-formed output.
    """
    text = _SPACES.sub(" ", html.unescape(_TAG.sub(" ", value or ""))).strip()
    if words:
        parts = text.split(" ")
        if len(parts) > int(words):
            text = " ".join(parts[: int(words)]).rstrip(",.;:–—-") + "…"
    return text


@register.filter
def story_html(value: str) -> SafeString:
    """A stored (sanitised) summary or body as a page shows it: without the outlet's images,
    which the page's content-security policy would block (our own copy is the lead figure)."""
    return mark_safe(without_images(value or ""))


@register.filter
def jsonld(value: object) -> SafeString:
    """A JSON document safe inside <script type="application/ld+json">: no <, > or & left."""
    text = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    # Safe: the escapes leave nothing that can close the script element or open markup.
    return mark_safe(text.translate(_SCRIPT_ESCAPES))


def countries_in_order(story: Story) -> list:
    """The story's shown country tags, its primary country first, then by name."""
    return story.countries_primary_first()


def topics_in_order(story: Story) -> list:
    topics = getattr(story, "tag_topics", None)  # cards (feeds.web.cards)
    if topics is None:
        tags = getattr(story, "shown_topics", None)
        if tags is None:
            tags = list(story.topics.filter(rejected=False).select_related("topic"))
        topics = [tag.topic for tag in tags]
    return sorted(topics, key=lambda t: t.name)


@register.filter
def ordered_countries(story: Story) -> list:
    return countries_in_order(story)


@register.filter
def ordered_topics(story: Story) -> list:
    return topics_in_order(story)


def related_slots(story: Story) -> list[RelatedSlot]:
    """The box's lines readers see (``RelatedSlotQuerySet.shown_in``), ordered by position
    then country name.

    Views prefetch them into ``story.related_lines`` (one query); otherwise one query here.
    """
    lines = getattr(story, "related_lines", None)
    if lines is None:
        lines = list(
            RelatedSlot.objects.shown_in(story)
            .filter(story=story)
            .select_related("country", "target__source")
            .order_by("position", "country__name")
        )
    return lines


@register.inclusion_tag("feeds/includes/related_stories.html")
def related_stories(story: Story) -> dict:
    return {"story": story, "slots": related_slots(story)}


def _html(value: object) -> str:
    """A value as the template engine prints it: escaped, unless already safe HTML."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return escape(str(value))


def _credit(story: Story, url: functools.partial, css: str) -> str:
    """Whom a story is credited to, as every listing and related-box line writes it: the
    outlet we carry it from, linked to its page, after "<outlet that wrote it> via" when
    that is another ("The Associated Press via Arctic Today"); each part in class ``css``."""
    outlet, source = story.outlet, story.source.name
    via = f'<span class="{css}">{_html(outlet)}</span> via ' if outlet != source else ""
    source_url = _html(url("feeds:source", (story.source.slug,)))
    return f'{via}<a class="{css}" href="{source_url}">{_html(source)}</a>'


@register.simple_tag
def credit(story: Story, css: str) -> SafeString:
    """A story's credit (``_credit``) in a template: the related box's and digest's lines."""
    # Safe: _credit escapes the outlets' names and the URL; the markup is ours.
    return mark_safe(_credit(story, _reverser(), css))


def _card(
    story: Story,
    url: functools.partial,
    clock: tuple[datetime, tzinfo],
    *,
    level: int,
    summary_words: int,
    compact: bool,
    lead: bool = False,
) -> str:
    """One card's HTML: headline link, teaser, outlet and time, tags (no teaser or tags if
    compact; the lead story's image on a lead card)."""
    snippet = getattr(story, "snippet_html", "")  # search results: highlighted matches
    if compact:
        summary = ""
    elif snippet:
        summary = snippet
    else:
        summary = plaintext(story.summary, summary_words)
    # search results: the headline with the matched words marked (escaped, our <mark>s)
    headline = getattr(story, "headline_html", "") or story.title
    image = ""
    if lead and story.image_src:
        image = (
            f'<img class="card__image" src="{_html(story.image_src)}" '
            f'srcset="{_html(story.image_srcset)}" sizes="(min-width: 64rem) 44rem, 100vw" '
            f'width="{_html(story.image_width)}" height="{_html(story.image_height)}" alt="" '
            'fetchpriority="high">'
        )
    if summary:
        summary = f'<p class="card__summary">{_html(summary)}</p>'
    tags = "" if compact else tag_links(story, url)
    if tags:
        tags = f'<ul class="tags" aria-label="Tags">{tags}</ul>'
    story_url = _html(url("feeds:story", (str(story.pk),)))
    time = _timeago(story.published_at, *clock)
    return (
        f'<article class="card{" card--compact" if compact else ""}'
        f'{" card--lead" if lead else ""}">\n'
        f"  {image}\n"
        f'  <h{level} class="card__title"><a href="{story_url}">{_html(headline)}</a>'
        f"</h{level}>\n"
        f"  {summary}\n"
        f'  <p class="card__meta">{_credit(story, url, "card__outlet")}'
        f' <span aria-hidden="true">·</span> {time}</p>\n'
        f"  {tags}\n"
        "</article>\n"
    )


# Cards are written in Python, not by a template: a listing renders 20 of them and the home
# page about 50, and the template engine's work per card (a dozen variable lookups, each
# escaped and localised, and the conditions) was most of a listing's render time
# (docs/performance.md). The markup is the one place a card is written.


@register.simple_tag
def story_card(
    story: Story,
    level: int = 3,
    summary_words: int = 30,
    compact: bool = False,
    lead: bool = False,
) -> SafeString:
    """One story: headline link, teaser, outlet and time, tags (no teaser or tags if compact)."""
    card = _card(
        story,
        _reverser(),
        _clock(),
        level=level,
        summary_words=summary_words,
        compact=compact,
        lead=lead,
    )
    return _cards_html([card])


@register.simple_tag
def story_cards(
    stories: list[Story], level: int = 3, summary_words: int = 30, compact: bool = False
) -> SafeString:
    """A run of story cards, as story_card writes each."""
    url, clock = _reverser(), _clock()
    cards = [
        _card(s, url, clock, level=level, summary_words=summary_words, compact=compact)
        for s in stories
    ]
    return _cards_html(cards)


def _clock() -> tuple[datetime, tzinfo]:
    """Now, and the time zone: what a run of cards' times are told in."""
    return timezone.now(), timezone.get_current_timezone()


def _cards_html(cards: list[str]) -> SafeString:
    # Safe: every value in a card is escaped by _card (or is our own escaped markup).
    return mark_safe("".join(cards) + "\n")


def tag_links(story: Story, url: functools.partial | None = None) -> SafeString:
    """The story's tags as <li><a rel="tag"> items: countries (primary first), then topics."""
    url = url or _reverser()
    pairs = [
        ("tag tag--country", url("feeds:country", (c.slug,)), c.name)
        for c in countries_in_order(story)
    ]
    pairs += [("tag", url("feeds:topic", (t.slug,)), t.name) for t in topics_in_order(story)]
    items = [
        f'<li><a class="{css}" rel="tag" href="{escape(link)}">{escape(name)}</a></li>'
        for css, link, name in pairs
    ]
    # Safe: names and URLs above are escaped; the markup around them is ours.
    return mark_safe("".join(items))
