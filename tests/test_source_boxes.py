"""An outlet's own related box, through the real fetcher and pipeline.

Eye on the Arctic ends many stories with "Related stories from around the North:" lines. We
keep them as the outlet's suggestions: lines to stories we carry point at our story pages
(the original outlet's, when we carry a republished copy), the rest stay external links
until the story arrives, and the box is not repeated in the story's text. The system's own
suggestions never overwrite them.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from feeds.models import Feed, Origin, RelatedSlot, Story
from tests.test_views import parse, text_of

pytestmark = pytest.mark.django_db

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>{outlet}</title><link>https://{host}/</link><description>t</description>
{items}
</channel></rss>"""

ITEM = """<item><title>{title}</title><link>{link}</link><guid>{link}</guid>
<pubDate>{date}</pubDate><dc:creator>{byline}</dc:creator>
<content:encoded><![CDATA[{body}]]></content:encoded></item>"""

BO_URL = "https://thebarentsobserver.com/en/2026/11/kirkenes-port-winter-cargo"
YLE_URL = "https://yle.fi/a/74-20160001"
RS_URL = "https://www.sverigesradio.se/artikel/lulea-port-ice"
RCI_URL = "https://www.rcinet.ca/eye-on-the-arctic/2026/11/25/nunavut-sealift-ends/"

BOX = f"""<p>Ships finished the last sealift deliveries to Nunavut communities this week.</p>
<p><strong>Related stories from around the North:</strong></p>
<p><strong>Finland:</strong> <a href="{YLE_URL}">Finnish icebreakers start season early in the
Bay of Bothnia</a>, Yle News<br />
<strong>Norway:</strong> <a href="{BO_URL}">Kirkenes port sees record winter cargo</a>,
The Independent Barents Observer<br />
<strong>Sweden:</strong> <a href="{RS_URL}">Luleå port prepares for thick ice</a>,
Radio Sweden</p>"""


def feed(fixture_server, path: str, outlet: str, host: str, items: list[dict]) -> Feed:
    body = RSS.format(outlet=outlet, host=host, items="\n".join(ITEM.format(**i) for i in items))
    fixture_server.add(path, body)
    call_command("addfeed", fixture_server.url(path), source=outlet, stdout=io.StringIO())
    return Feed.objects.get(url=fixture_server.url(path))


def fetch_all() -> None:
    call_command("fetchfeeds", "--all", stdout=io.StringIO())


@pytest.fixture
def feeds(fixture_server, allow_private):
    barents = feed(
        fixture_server,
        "/bo.xml",
        "The Independent Barents Observer",
        "thebarentsobserver.com",
        [
            {
                "title": "Kirkenes port sees record winter cargo",
                "link": BO_URL,
                "date": "Mon, 23 Nov 2026 10:00:00 +0000",
                "byline": "Atle Staalesen",
                "body": "<p>Kirkenes in northern Norway handled more cargo than ever.</p>",
            }
        ],
    )
    fetch_all()  # the Barents Observer story is ours before Eye on the Arctic links to it
    rci = feed(
        fixture_server,
        "/rci.xml",
        "Eye on the Arctic",
        "www.rcinet.ca",
        [
            {
                "title": "Sealift season ends in Nunavut",
                "link": RCI_URL,
                "date": "Wed, 25 Nov 2026 14:00:00 +0000",
                "byline": "Eilís Quinn, Eye on the Arctic",
                "body": BOX,
            }
        ],
    )
    fetch_all()
    return barents, rci


def box_of(story: Story) -> dict[str, RelatedSlot]:
    slots = RelatedSlot.objects.filter(story=story).select_related("country", "target")
    return {slot.country.slug: slot for slot in slots}


def test_the_outlets_lines_are_kept_resolved_where_we_carry_the_story(feeds, client):
    story = Story.objects.get(link=RCI_URL)
    barents_story = Story.objects.get(link=BO_URL)
    box = box_of(story)

    assert box["norway"].origin == Origin.SOURCE
    assert box["norway"].target == barents_story
    for country, url in (("finland", YLE_URL), ("sweden", RS_URL)):
        assert box[country].origin == Origin.SOURCE
        assert box[country].target is None
        assert box[country].external_url == url
    assert box["sweden"].external_outlet == "Radio Sweden"

    # The box is in the related box, not a second time in the story's text.
    assert "Related stories from around the North" not in story.content
    assert "Kirkenes port sees record winter cargo" not in story.content
    page = parse(client.get(story.get_absolute_url()))
    lines = [text_of(li) for li in page.findall(".//section[@class='related']//li")]
    assert any(
        line.startswith("Norway:") and "Kirkenes port sees record winter cargo" in line
        for line in lines
    ), lines
    links = {a.get("href") for a in page.findall(".//section[@class='related']//a")}
    assert barents_story.get_absolute_url() in links
    assert RS_URL in links


def test_a_line_points_at_our_story_once_it_arrives(feeds, fixture_server):
    story = Story.objects.get(link=RCI_URL)
    feed(
        fixture_server,
        "/yle.xml",
        "Yle News",
        "yle.fi",
        [
            {
                "title": "Finnish icebreakers start season early in the Bay of Bothnia",
                "link": YLE_URL + "?utm_source=rss",  # the same article by its url_key
                "date": "Thu, 26 Nov 2026 08:00:00 +0000",
                "byline": "Yle News",
                "body": "<p>Icebreakers left Oulu for the Bay of Bothnia.</p>",
            }
        ],
    )
    fetch_all()
    yle_story = Story.objects.get(source__name="Yle News")
    finland = box_of(story)["finland"]
    assert finland.target == yle_story
    assert (finland.external_url, finland.external_key) == ("", "")
    assert finland.origin == Origin.SOURCE
    assert box_of(story)["sweden"].target is None  # still not ours


def test_the_system_does_not_overwrite_the_outlets_lines(feeds):
    story = Story.objects.get(link=RCI_URL)
    before = {c: (s.target_id, s.external_url) for c, s in box_of(story).items()}
    fetch_all()  # nothing new: no change
    from feeds.related import boxes as related

    related.refresh_box(story)
    after = box_of(story)
    for country, state in before.items():
        if after[country].origin == Origin.SOURCE:
            assert (after[country].target_id, after[country].external_url) == state
    assert {c for c, s in after.items() if s.origin == Origin.SOURCE} == {
        "finland",
        "norway",
        "sweden",
    }


def test_a_locked_box_is_left_alone_when_the_story_arrives(feeds, fixture_server):
    story = Story.objects.get(link=RCI_URL)
    Story.objects.filter(pk=story.pk).update(related_locked=True)
    feed(
        fixture_server,
        "/rs.xml",
        "Radio Sweden",
        "www.sverigesradio.se",
        [
            {
                "title": "Luleå port prepares for thick ice",
                "link": RS_URL,
                "date": "Thu, 26 Nov 2026 09:00:00 +0000",
                "byline": "Radio Sweden",
                "body": "<p>Luleå in Norrbotten expects thick ice.</p>",
            }
        ],
    )
    fetch_all()
    assert box_of(story)["sweden"].external_url == RS_URL
