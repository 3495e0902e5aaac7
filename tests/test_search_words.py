"""Search finds whole words and their forms, on PostgreSQL and on the embedded default alike.

"ice" finds "ice", "iced", "icing" and "ice-capable", never "police", "voices", "prices",
"twice" or "icebreakers", and the highlight marks whole words ("police", never "pol[ice]").
The same stories and queries give the same results on PostgreSQL (full-text search with
stemming) and on SQLite (``feeds.text.stemming.forms_pattern`` through REGEXP). A run on
PostgreSQL also runs this module on SQLite, as the suite runs without DATABASE_URL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.db import connection

from feeds.models import Story
from feeds.search import search_stories, update_search_vectors
from feeds.text.stemming import forms_pattern
from tests.conftest import ROOT
from tests.test_views import make_story, parse

pytestmark = [pytest.mark.django_db]

STORIES = {
    "sea ice": ("Sea ice retreats early in the Barents Sea", "<p>The ice edge moved north.</p>"),
    "icing": ("Icing closes Nome airport for a day", "<p>Freezing rain iced the runway.</p>"),
    "capable": ("Denmark orders ice-capable patrol vessels", "<p>Three ships for Greenland.</p>"),
    "police": (
        "Police patrol the Kirkenes border crossing",
        "<p>Voices rise over prices, and twice the officers.</p>",
    ),
    "icebreakers": ("Icebreakers head north early", "<p>Finnish crews left Oulu.</p>"),
    "shipping": ("Shipping season opens on the Northern Sea Route", "<p>Cargo rises.</p>"),
    "murmansk": ("В Мурманске открыли новый причал", "<p>Порт растёт.</p>"),
}
LANGUAGE = {"murmansk": "ru"}

CASES = [
    ("ice", {"sea ice", "icing", "capable"}),
    ("iced", {"sea ice", "icing", "capable"}),
    ("police", {"police"}),
    ("price", {"police"}),
    ("ship", {"shipping", "capable"}),
    ("icebreaker", {"icebreakers"}),
    ("Мурманск", {"murmansk"}),
    ("ice or police", {"sea ice", "icing", "capable", "police"}),
    ("ice -Denmark", {"sea ice", "icing"}),
    ("sea ice", {"sea ice"}),
    ("twic", set()),
]


@pytest.fixture
def stories() -> dict[str, Story]:
    made = {
        key: make_story(
            title,
            countries=("norway",),
            language=LANGUAGE.get(key, "en"),
            summary=summary,
        )
        for key, (title, summary) in STORIES.items()
    }
    update_search_vectors(story.pk for story in made.values())  # PostgreSQL; else nothing
    return made


@pytest.mark.parametrize("query, expected", CASES)
def test_search_finds_whole_words_and_their_forms_only(stories, query, expected):
    by_pk = {story.pk: key for key, story in stories.items()}
    assert {by_pk[story.pk] for story in search_stories(query)} == expected


def test_the_highlight_marks_whole_words(client, stories):
    tree = parse(client.get("/search/", {"q": "ice"}))
    articles = tree.findall(".//main//article")
    assert len(articles) == 3
    marks = [(m.text or "", m.tail or "") for m in tree.iterfind(".//main//article//mark")]
    assert {text.lower() for text, _ in marks} >= {"ice", "icing", "iced"}
    # Never a part of a word: no letter right after a mark's end (nor "pol" before one).
    assert all(not tail[:1].isalpha() for _, tail in marks), marks
    body = client.get("/search/", {"q": "police"}).content.decode()
    assert re.search(r"<mark>Police</mark>", body)
    assert "pol<mark>" not in body.lower()


FORMS = [
    ("ice", ["ice", "Ice", "ices", "iced", "icing", "ice-capable", "sea ice."], []),
    ("ice", [], ["police", "voices", "prices", "twice", "icebreaker", "Iceland"]),
    ("shipping", ["ship", "ships", "shipped", "shipping"], ["shipyard", "worship"]),
    ("mining", ["mine", "mines", "mined", "mining"], ["minister", "determine"]),
    ("approved", ["approve", "approves", "approved", "approving"], ["approval"]),
    ("countries", ["country", "countries"], ["countryside"]),
    ("news", ["news"], ["new", "newsletter"]),
    ("bookings", ["book", "booked", "booking", "bookings"], ["bookshop"]),
    ("Мурманск", ["Мурманск", "Мурманске", "мурманском", "Мурманска"], ["Мурманскпорт"]),
    ("путь", ["путь", "пути", "путём", "путем"], ["путешествие"]),
    ("Tromsø", ["Tromsø", "tromsø"], ["Tromsøya"]),
]


@pytest.mark.django_db(False)
@pytest.mark.parametrize("word, matches, misses", FORMS)
def test_forms_pattern_matches_whole_forms_only(word, matches, misses):
    pattern = re.compile(forms_pattern(word), re.IGNORECASE)
    assert all(pattern.search(text) for text in matches), [
        m for m in matches if not pattern.search(m)
    ]
    assert not [text for text in misses if pattern.search(text)]


SERVICES = ("DATABASE_URL", "REDIS_URL", "CACHE_REDIS_URL", "CELERY_BROKER_URL")


@pytest.mark.django_db(False)
@pytest.mark.skipif(connection.vendor == "sqlite", reason="this run is the embedded default's")
def test_the_same_on_the_embedded_default_without_database_url(tmp_path):
    """This module again, as `make test` runs it without DATABASE_URL: on SQLite."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICES}
    env["ARCTICNEWS_VAR_DIR"] = str(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "this run is the embedded default's" in run.stdout  # on SQLite, really
    assert f"{len(CASES) + 1 + len(FORMS)} passed, 1 skipped" in run.stdout  # this one
