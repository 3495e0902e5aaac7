"""The related box's modules: the vocabulary file, the caches' public clear(), and the one
"primary country first" order shared by pages and feeds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from feeds.related import boxes, profiles, words
from feeds.related.candidates import WEEK_SECONDS, weeks_query
from feeds.related.words import VocabularyError, parse_vocabulary
from tests.test_views import make_story


def test_every_vocabulary_entry_parses_and_signals_its_concept() -> None:
    vocab = words.VOCABULARY
    assert vocab.stopwords and vocab.country_words and vocab.geo_words and vocab.generic_words
    for concept in vocab.concepts:
        assert concept.words, concept.name
        for word in concept.words:
            t = words.term(word)
            # A concept word that is a stopword or too short would signal nothing.
            assert t, (concept.name, word)
            assert "~" + concept.name in words.CONCEPT_OF[t], (concept.name, word)
        for a, b in concept.phrases:
            pair = f"{words.term(a)} {words.term(b)}"
            assert "~" + concept.name in words.CONCEPT_OF[pair], (concept.name, a, b)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stopwords = 'a'", "concepts"),
        ("stopwords = 1\n[concepts.x]\nwords = 'fish'", "'stopwords' must be a string"),
        (
            "stopwords = 'a'\ncountry_words = 'b'\ngeo_words = 'c'\ngeneric_words = 'd'\n"
            "[concepts.x]\nwords = 'Fish'",
            "lower-case",
        ),
        (
            "stopwords = 'a'\ncountry_words = 'b'\ngeo_words = 'c'\ngeneric_words = 'd'\n"
            "[concepts.x]\nwords = 'fish'\nphrases = ['sea']",
            "two words",
        ),
        ("stopwords = [", "vocabulary"),
    ],
)
def test_a_malformed_vocabulary_is_refused_with_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(VocabularyError, match=message):
        parse_vocabulary(text)


def test_clear_empties_the_caches() -> None:
    words.term("Icebreakers")
    profiles.profile(1, "sig", "Icebreakers in the Arctic", "", "")
    assert words._NORM and profiles._PROFILES
    boxes.clear()
    assert not words._NORM and not profiles._PROFILES


@pytest.mark.django_db
def test_primary_country_first_even_without_its_tag_row() -> None:
    story = make_story("Fishing talks", countries=("norway", "canada"), primary="russia")
    names = [c.slug for c in story.countries_primary_first()]
    assert names == ["russia", "canada", "norway"]
    story = make_story("Fishing talks again", countries=("norway", "canada"), primary="norway")
    assert [c.slug for c in story.countries_primary_first()] == ["norway", "canada"]


def test_the_candidate_query_asks_for_every_week_its_window_touches() -> None:
    """Weeks since 1970 (as ``related_week`` in migration 0021 counts them), each once."""
    start = datetime(2026, 11, 27, 12, tzinfo=UTC)
    week = int(start.timestamp()) // WEEK_SECONDS
    assert weeks_query([(start, start)]) == f"'~w{week}'"
    both = weeks_query([(start - timedelta(days=14), start), (start, start + timedelta(days=7))])
    assert both.split(" | ") == [f"'~w{w}'" for w in range(week - 2, week + 2)]


def test_a_stored_profile_is_the_profile_made_from_the_text_exactly() -> None:
    title = "Tankers sail the Northern Sea Route as ice retreats"
    summary = "<p>Cargo ships and LNG tankers sailed east past Sabetta, Rosatom says.</p>"
    body = "<p>The icebreaker Yamal escorted them through the Vilkitsky Strait.</p>"
    terms, stored = profiles.stored_columns(title, summary, body)
    made = profiles.candidate_profile(title, summary, body)
    got = profiles.from_stored(stored)
    assert got is not None
    # The same weights, floats exact, in the same order: a box ranks as from the text.
    assert list(got.base.items()) == list(made.base.items())
    assert got.themes == made.themes
    # The index holds the single terms only (pairs and concepts are scored, not looked up),
    # a headline word weighted A, a lead word B, a place named in the lead C.
    lexemes = dict(re.findall(r"'([^']+)':\d+([A-D])", terms))
    assert lexemes.keys() == {t for t in made.base if " " not in t and not t.startswith("~")}
    assert lexemes["tanker"] == "A" and lexemes["cargo"] == "B" and lexemes["sabetta"] == "C"
    # The body counts only when the teaser is short, as when a candidate's text is read.
    long_teaser = "<p>" + "Cargo ships sailed east. " * 40 + "</p>"
    assert "yamal" in profiles.stored_columns(title, summary, body)[0]
    assert "yamal" not in profiles.stored_columns(title, long_teaser, body)[0]


def test_a_profile_stored_under_another_vocabulary_is_not_used() -> None:
    _, stored = profiles.stored_columns("Icebreakers in the Arctic", "", "")
    version, _, weights = stored.partition("\t")
    assert version == profiles.PROFILE_VERSION
    assert profiles.from_stored(f"0ld0ld0ld0ld\t{weights}") is None
    assert profiles.from_stored("") is None
    assert profiles.from_stored(None) is None
