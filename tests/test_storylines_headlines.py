"""Storylines and items that are a headline alone (a feed item with no lead): they need
stronger evidence to join a storyline, and a storyline of headlines needs it to be joined.
Pure scoring first, then placement on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feeds.models import Country, Storyline
from feeds.storylines import assign, evaluate, scoring
from tests.test_views import make_source, make_story

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
STATS = scoring.Stats(0, {})

FIRE = (
    "Fire on board Northern Fleet destroyer in Severomorsk",
    "The fire broke out in the engine room of the Admiral Levchenko during repairs at the "
    "pier in Severomorsk; two sailors were taken to hospital, the fleet says.",
)
FIRE_HEADLINE = "Russian destroyer Admiral Levchenko damaged by fire at Severomorsk"
FIRE_HEADLINE_RU = "Пожар на эсминце «Адмирал Левченко» в Североморске"
SAME_PLACE = "Severomorsk gets a new head of administration"  # a place in common, nothing else
RUNWAY = (
    "Svalbard Airport closed after runway damaged by thawing permafrost",
    "Cracks opened in the runway at Longyearbyen's airport during the warm spell, and Avinor "
    "has cancelled all flights to the mainland until repairs are done.",
)
OTHER_RUNWAY = "Tromsø Airport to get a longer runway"  # common words, another place
BLAST = (
    "Explosion at PhosAgro fertiliser plant in Apatity",
    "One worker was killed and three were injured when a tank exploded at the PhosAgro plant "
    "in Apatity on Tuesday morning, the emergencies ministry of Murmansk region says.",
)


def sig(title: str, lead: str = "", hours: float = 0, country: str = "") -> scoring.Signature:
    return scoring.signature(title, lead, "", T0 + timedelta(hours=hours), country)


def sketch_of(*sigs: scoring.Signature) -> scoring.Sketch:
    terms: dict[str, float] = {}
    for s in sigs:
        terms = scoring.merge(terms, s)
    return scoring.Sketch(1, terms, T0, max(s.published_at for s in sigs))


def test_a_story_with_no_lead_or_one_repeating_its_headline_is_a_headline_alone() -> None:
    assert sig(SAME_PLACE).headline_only
    assert sig(SAME_PLACE, f"{SAME_PLACE}.").headline_only  # feeds that repeat the title
    assert sig(SAME_PLACE, "Read more.").headline_only
    assert not sig(*FIRE).headline_only


def test_a_headline_alone_joins_on_a_subject_in_common_not_on_a_place() -> None:
    line = sketch_of(sig(*FIRE, country="russia"))
    for title in (FIRE_HEADLINE, FIRE_HEADLINE_RU):
        match = scoring.choose(sig(title, hours=5, country="russia"), [line], STATS)
        assert match is not None, title
    # Severomorsk (the word, its name, and the Northern Fleet's anchor it is written in) is
    # all it shares: a cosine of ~0.36 that used to join it.
    assert scoring.score(sig(SAME_PLACE, hours=5, country="russia"), line, STATS).text > 0.3
    assert scoring.choose(sig(SAME_PLACE, hours=5, country="russia"), [line], STATS) is None


def test_across_scripts_a_headline_needs_more_than_a_place_too() -> None:
    line = sketch_of(sig(*BLAST, country="russia"))
    joins = sig("Взрыв на заводе ФосАгро в Апатитах", hours=2, country="russia")
    assert scoring.choose(joins, [line], STATS) is not None  # PhosAgro, Apatity, explosion
    school = sig("В Апатитах открылась новая школа", hours=2, country="russia")
    assert scoring.choose(school, [line], STATS) is None  # Apatity only


def test_a_headline_naming_a_place_the_storyline_never_names_is_another_event() -> None:
    line = sketch_of(sig(*RUNWAY, country="norway"))
    same = sig("Thawing permafrost damages runway at Svalbard Airport", hours=4, country="norway")
    other = sig(OTHER_RUNWAY, hours=4, country="norway")
    assert scoring.choose(same, [line], STATS) is not None
    assert scoring.score(other, line, STATS).text > 0.3  # airport, runway
    assert scoring.choose(other, [line], STATS) is None
    # With a lead too, the headline's names weigh: Ilulissat's new airport is not Nuuk's,
    # whatever words they share (a jet from Copenhagen, the runway).
    nuuk = sketch_of(
        sig(
            "Nuuk's new international airport opens with first flight from Copenhagen",
            "The long runway in Nuuk allows direct flights from Europe and North America for "
            "the first time.",
            country="greenland",
        )
    )
    jet = "Air Greenland's jet from Copenhagen landed on the new 2,200-metre runway"
    ilulissat = sig("Ilulissat's new airport receives its first flight", jet, 24, "greenland")
    same = sig("First jet lands at the new Nuuk airport", jet, 24, "greenland")
    other = scoring.score(ilulissat, nuuk, STATS)
    assert other.score == pytest.approx(other.text * scoring.NO_SHARED_NAME, abs=1e-3)
    assert scoring.score(same, nuuk, STATS).score == scoring.score(same, nuuk, STATS).text


def test_a_storyline_of_headlines_is_continued_within_days_not_weeks() -> None:
    line = sketch_of(sig("Svalbard sees record number of cruise passengers", country="norway"))
    assert line.terms[scoring.HEADLINES_KEY] == 1.0
    rules = (
        "Norway caps cruise passengers in Svalbard's protected areas",
        "New rules limit cruise ships to 200 passengers in Svalbard's nature reserves from "
        "next year.",
    )
    near = scoring.score(sig(*rules, hours=24, country="norway"), line, STATS)
    far = scoring.score(sig(*rules, hours=24 * 10, country="norway"), line, STATS)
    assert near.score > 0 and far.score == 0  # a lead-rich storyline would take it (21 days)
    assert scoring.time_factor(T0 + timedelta(days=10), line) > 0


def test_the_headlines_mark_lasts_while_every_story_is_a_headline_and_marks_are_kept() -> None:
    terms = scoring.merge({}, sig(FIRE_HEADLINE, country="russia"))
    assert terms[scoring.HEADLINES_KEY] == 1.0 and terms["^russia"] == 1.0
    terms = scoring.merge(terms, sig(FIRE_HEADLINE_RU, country="russia"))
    assert scoring.HEADLINES_KEY in terms
    terms = scoring.merge(terms, sig(*FIRE, country="norway"))
    assert scoring.HEADLINES_KEY not in terms
    terms = scoring.merge(terms, sig(SAME_PLACE))  # a headline later: not headlines only
    assert scoring.HEADLINES_KEY not in terms
    # A storyline's countries are kept however many terms push them out of the strongest.
    for i in range(60):
        word = "zq" + "".join(chr(97 + int(d)) for d in f"{i:03d}")
        terms = scoring.merge(terms, sig(f"{word} {word} {word}", f"{word} " * 12))
    assert len(terms) == scoring.SKETCH_TERMS + 2 and {"^russia", "^norway"} <= set(terms)
    assert scoring.HEADLINES_KEY not in scoring.index_keys(terms, STATS)


def test_another_countrys_telling_joins_when_its_headline_names_the_storylines_place() -> None:
    line = sketch_of(
        sig(
            "First electric train crosses the border between Haparanda and Tornio",
            "The electrified track across the Torne River links the Swedish and Finnish rail "
            "networks, and freight trains no longer change locomotives at the border.",
            country="sweden",
        )
    )
    lead = "Freight trains no longer change locomotives at the border, the rail agency says."
    story = ("Tornio–Haparanda rail link electrified", lead)
    sweden = scoring.score(sig(*story, hours=20, country="sweden"), line, STATS)
    finland = scoring.score(sig(*story, hours=20, country="finland"), line, STATS)
    assert finland.score == sweden.score > scoring.THRESHOLD  # Finland's telling, Tornio's event
    # Without the place, Finland's story on its own rail line is another event.
    other = ("Finland electrifies the line to Kolari", lead)
    halved = scoring.score(sig(*other, hours=20, country="finland"), line, STATS)
    same = scoring.score(sig(*other, hours=20, country="sweden"), line, STATS)
    assert halved.score == pytest.approx(same.score * scoring.OTHER_COUNTRY, abs=1e-3)


def test_the_set_format_has_headline_only_items_and_copies_credit_their_original() -> None:
    items = evaluate.parse(
        "== a day=0\nbo-en +1 | One | First lead of a.\nnrk +2 | Two alone\neye +3 copy\n"
    )
    assert [(i.title, i.lead) for i in items[:2]] == [
        ("One", "First lead of a."),
        ("Two alone", ""),
    ]
    assert items[2].copy_of == "a/0" and items[2].credit == "The Independent Barents Observer"
    with pytest.raises(evaluate.SetError, match="set:2"):
        evaluate.parse("== a day=0\nnrk +1 | headline | lead | more\n")


# --- In the database -------------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db
def test_headline_only_items_are_placed_as_they_arrive() -> None:
    barents = make_source("The Barents Observer", country=Country.objects.get(slug="norway"))
    hnn = make_source("High North News")
    first = make_story(FIRE[0], summary=FIRE[1], source=barents, primary="russia", published=T0)
    headline, place_only = (
        make_story(title, summary="", source=source, primary="russia", published=T0 + delay)
        for title, source, delay in (
            (FIRE_HEADLINE, hnn, timedelta(hours=5)),
            (SAME_PLACE, barents, timedelta(hours=6)),
        )
    )
    assign.assign([first.pk, headline.pk, place_only.pk])
    line = Storyline.objects.get(memberships__story=first)
    assert set(line.stories.values_list("pk", flat=True)) == {first.pk, headline.pk}
    alone = Storyline.objects.get(memberships__story=place_only)
    assert alone.pk != line.pk and alone.profile[scoring.HEADLINES_KEY] == 1.0
    assert scoring.HEADLINES_KEY not in line.profile
