"""Storylines: anchors and scoring (pure), placement as stories arrive (PostgreSQL), copies
staying copies, and the labelled evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from feeds.models import Country, Story, Storyline, StorylineMembership, StorylineTerm
from feeds.storylines import anchors, assign, evaluate, scoring
from feeds.storylines.anchors import AnchorError, parse_anchors
from tests.test_views import make_source, make_story

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
STATS = scoring.Stats(0, {})

EN = (
    "Norway and Russia agree on lower cod quota for Barents Sea",
    "The joint fisheries commission set next year's Northeast Arctic cod quota at "
    "340,000 tonnes, down 25 percent.",
)
RU = (
    "Россия и Норвегия снизили квоту на треску в Баренцевом море",
    "Смешанная комиссия по рыболовству установила квоту на северо-восточную арктическую "
    "треску в 340 тысяч тонн.",
)
EN_FOLLOW_UP = (
    "Barents Sea cod quota cut by a quarter",
    "Norwegian and Russian negotiators agreed on a quota of 340,000 tonnes for cod, the "
    "lowest in more than 30 years.",
)
DISTRACTOR = (
    "Norway opens snow crab fishery near Svalbard to more vessels",
    "The Directorate of Fisheries will give licences to more boats in the snow crab fishery "
    "on the Svalbard shelf.",
)


def sig(text: tuple[str, str], hours: float = 0) -> scoring.Signature:
    return scoring.signature(text[0], text[1], "", T0 + timedelta(hours=hours))


def sketch_of(*texts: tuple[str, str], pk: int = 1) -> scoring.Sketch:
    terms: dict[str, float] = {}
    for text in texts:
        terms = scoring.merge(terms, sig(text))
    return scoring.Sketch(pk, terms, T0, T0)


def test_russian_and_english_names_meet_as_anchors() -> None:
    en = anchors.find("Fence goes up at Storskog border crossing between Kirkenes and Nikel")
    ru = anchors.find("Норвегия строит забор на КПП Стурскуг у Киркенеса, недалеко от Никеля")
    shared = set(en) & set(ru)
    assert {"@kirkenes", "@border", "@nikel", "=karkan", "=starsk"} <= shared
    assert not any(k.startswith("=narv") for k in ru)  # a country's own name anchors nothing


@pytest.mark.parametrize(
    ("russian", "english"),
    [
        ("Копенгагена", "Copenhagen"),  # г for h, к for c
        ("Хаммерфесте", "Hammerfest"),  # х for h, a case ending
        ("Нууке", "Nuuk"),  # a short name and its ending
        ("Люнгене", "Lyngen"),  # ю for y
        ("ФосАгро", "PhosAgro"),  # ф for ph
        ("Апатитах", "Apatity"),  # -ах, and the -y of a Russian plural
        ("Вардё", "Vardø"),
        ("Якутии", "Yakutia"),
    ],
)
def test_a_name_sounds_the_same_in_both_scripts(russian: str, english: str) -> None:
    assert (
        anchors.sound(russian)[: anchors.NAME_LETTERS]
        == (anchors.sound(english)[: anchors.NAME_LETTERS])
    )


def test_which_capitalised_words_are_names() -> None:
    # Opening a headline: a place the gazetteer knows, a possessive, a capital inside.
    assert "=davak" in anchors.find("Diavik closure leaves the territory's economy searching")
    assert "=vard" in anchors.find("Vardø's new radar is up and running")
    assert "=fasagr" in anchors.find("PhosAgro blast kills one worker")
    assert not any(k[0] == "=" for k in anchors.find("Predators killed a record number"))
    # ... or a word the story's other text capitalises inside a sentence.
    names = anchors.capitalised_inside("The mine owner Ekati Ltd says so.")
    assert "=akat" in anchors.find("Ekati sold to new owner", names)
    # A Title Case headline's capitals are no names; its known places still are.
    title_case = anchors.find("Thawing Permafrost Damages Runway at Svalbard Airport")
    assert {k for k in title_case if k[0] == "="} == {"=svalba"}
    # Words of institutions' names (anchors.toml [names]) and acronyms an anchor covers.
    assert anchors.find("The Coast Guard and the Juneau Assembly met.") == {"=yan": 1}
    assert anchors.find("Arctic LNG 2 and NATO") == {"@lng": 1, "@nato": 1}


def test_numbers_are_anchors_in_any_language_and_years_are_not() -> None:
    assert "#340000" in anchors.find("a quota of 340,000 tonnes in 2026")
    assert "#340000" in anchors.find("квота 340 тысяч тонн в 2026 году")
    assert "#2026" not in anchors.find("a quota of 340,000 tonnes in 2026")
    assert "#1600000000" in anchors.find("It cost 1.6 billion kroner.")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[anchors.places]\nkola = 'Kola'", "must be a list"),
        ("[anchors.places]\nkola = ['*']", "no words"),
        ("[anchors]\nkola = ['Kola']", "kinds: places, organisations, things"),
        ("[anchors.towns]\nkola = ['Kola']", "kinds: places"),
        ("[anchors.places]\nkola = ['Kola']\n[names]\nnot_names = ['two words']", "not one"),
        ("anchors = 3", "at least one anchor"),
        ("[anchors\n", "anchors:"),
    ],
)
def test_a_malformed_anchors_file_is_refused_with_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(AnchorError, match=message):
        parse_anchors(text)


def test_a_follow_up_and_the_russian_service_join_the_storyline_a_distractor_does_not() -> None:
    line = sketch_of(EN)
    for text in (EN_FOLLOW_UP, RU):
        match = scoring.choose(sig(text, hours=5), [line], STATS)
        assert match is not None, text[0]
    assert scoring.choose(sig(DISTRACTOR, hours=5), [line], STATS) is None


def test_anchors_stand_in_for_words_only_across_scripts() -> None:
    english = sketch_of(EN)
    russian = sig(RU, hours=2)
    cross = scoring.score(russian, english, STATS)
    assert cross.anchors > 0 and cross.score > cross.text
    same_script = scoring.score(sig(EN_FOLLOW_UP, hours=2), english, STATS)
    assert same_script.anchors == 0


def test_time_weighs_and_the_window_closes() -> None:
    line = sketch_of(EN)
    near = scoring.score(sig(EN_FOLLOW_UP, hours=10), line, STATS).score
    later = scoring.score(sig(EN_FOLLOW_UP, hours=24 * 12), line, STATS).score
    beyond = scoring.score(sig(EN_FOLLOW_UP, hours=24 * 30), line, STATS).score
    assert near > later > 0 and beyond == 0


def test_a_storyline_keeps_its_strongest_terms_and_is_found_by_its_anchors() -> None:
    terms: dict[str, float] = {}
    for i in range(40):
        word = "zq" + "".join(chr(97 + int(d)) for d in f"{i:03d}")  # a word of its own
        terms = scoring.merge(terms, sig((f"{EN[0]} {word}", f"{EN[1]} Nobody {word}."), hours=i))
    assert len(terms) == scoring.SKETCH_TERMS
    keys = scoring.index_keys(terms, STATS)
    assert any(k.startswith("@") for k in keys)
    assert set(scoring.query_keys(sig(RU), STATS)) & set(keys)


def test_the_set_format_and_pairwise_scores() -> None:
    items = evaluate.parse(
        "== a day=0\nbo-en +1 | One | First lead of a.\nnrk +2 | Two | Second lead.\n"
        "eye +3 copy\n== b day=1\nyle +0 | Three | A lead.\n"
    )
    assert [i.key for i in items] == ["a/0", "a/1", "a/2", "b/0"]
    assert items[2].copy_of == "a/0" and items[2].title == "One"
    labels = {"a/0": "a", "a/1": "a", "b/0": "b"}
    perfect = evaluate.pairwise(labels, {"a/0": 1, "a/1": 1, "b/0": 2})
    assert (perfect.precision, perfect.recall) == (1.0, 1.0)
    lumped = evaluate.pairwise(labels, {"a/0": 1, "a/1": 1, "b/0": 1})
    assert lumped.precision == pytest.approx(1 / 3) and lumped.recall == 1.0
    with pytest.raises(evaluate.SetError, match="set:2"):
        evaluate.parse("== a day=0\nnowhere +1 | x | y\n")


# --- In the database -------------------------------------------------------------------------


def barents(language: str = "en"):
    norway = Country.objects.get(slug="norway")
    name = "The Barents Observer" if language == "en" else "The Barents Observer (Russian)"
    return make_source(name, country=norway, language=language)


@pytest.mark.services
@pytest.mark.django_db
def test_stories_are_placed_as_they_arrive_with_counts_and_the_term_index() -> None:
    canada = Country.objects.get(slug="canada")
    first = make_story(EN[0], summary=EN[1], source=barents(), published=T0)
    ru = make_story(RU[0], summary=RU[1], source=barents("ru"), published=T0 + timedelta(hours=3))
    follow = make_story(
        EN_FOLLOW_UP[0],
        summary=EN_FOLLOW_UP[1],
        source=make_source("Eye on the Arctic", country=canada),
        published=T0 + timedelta(hours=9),
    )
    other = make_story(
        DISTRACTOR[0], summary=DISTRACTOR[1], source=barents(), published=T0 + timedelta(hours=5)
    )
    placed = assign.assign([first.pk, ru.pk, other.pk, follow.pk])
    assert [p.story_id for p in placed] == [first.pk, ru.pk, other.pk, follow.pk]  # oldest first
    line = Storyline.objects.get(memberships__story=first)
    assert set(line.stories.values_list("pk", flat=True)) == {first.pk, ru.pk, follow.pk}
    assert not StorylineMembership.objects.filter(story=other, storyline=line).exists()
    assert (line.story_count, line.outlet_count, line.country_count) == (3, 3, 2)
    assert line.first_published_at == T0 and line.last_published_at == follow.published_at
    assert line.title == EN[0] and line.slug.startswith("norway-and-russia-agree")
    assert StorylineTerm.objects.filter(storyline=line).count() >= 5
    # Placing again is a no-op: each story is placed once.
    assert assign.assign([first.pk, ru.pk]) == []
    assert list(Storyline.objects.this_week(now=T0 + timedelta(days=1))) == [line]


@pytest.mark.services
@pytest.mark.django_db
def test_copies_stay_copies_and_round_ups_and_hidden_stories_are_not_placed() -> None:
    original = make_story(EN[0], summary=EN[1], source=barents(), published=T0)
    copy = make_story(
        EN[0],
        summary=EN[1],
        source=make_source("Eye on the Arctic"),
        published=T0 + timedelta(hours=2),
        canonical=original,
    )
    digest = make_story(
        "Barents Sea cod: the week in review", source=barents(), kind="digest", published=T0
    )
    hidden = make_story(EN_FOLLOW_UP[0], source=barents(), is_hidden=True, published=T0)
    placed = assign.assign([original.pk, copy.pk, digest.pk, hidden.pk])
    assert [p.story_id for p in placed] == [original.pk]
    # A story placed before it was found to be a copy hands its storyline to its original.
    later = make_story(
        DISTRACTOR[0], summary=DISTRACTOR[1], source=barents(), published=T0 + timedelta(hours=1)
    )
    assign.assign([later.pk])
    line_id = later.storyline_membership.storyline_id
    other = make_story("Unrelated original of the crab story", source=barents(), published=T0)
    Story.objects.filter(pk=later.pk).update(canonical=other)
    assign.assign([later.pk])
    assert StorylineMembership.objects.get(story=other).storyline_id == line_id
    assert not StorylineMembership.objects.filter(story=later).exists()


@pytest.mark.services
@pytest.mark.django_db
def test_evaluate_storylines_meets_its_targets_on_dev_and_held_out_sets() -> None:
    out = StringIO()
    call_command("evaluate_storylines", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["dev.txt", "holdout.txt"]
    # The targets (0.9 / 0.8) hold on the set the weights were tuned on and on the held-out
    # set, headline-only items and their distractors included (last measured: dev 0.933 /
    # 0.900, held out 1.000 / 0.855).
    floors = {"dev.txt": (0.9, 0.8), "holdout.txt": (0.9, 0.8)}
    for line in lines:
        precision = float(line.split("precision ")[1].split()[0])
        recall = float(line.split("recall ")[1].split()[0])
        least_p, least_r = floors[line.split(":")[0]]
        assert precision >= least_p and recall >= least_r, line
        events = int(line.split("true pairs; ")[1].split()[0])
        assert events >= 20, line
    assert Storyline.objects.count() == 0  # rolled back


# --- The related box and storylines (feeds.related.ranking.pick) ------------------------------


def test_the_related_box_never_shows_two_stories_of_one_other_storyline() -> None:
    from feeds.related.ranking import SUBJECT, Scored, pick

    ranked = {
        1: [Scored(10, 0.9, 0.9, SUBJECT), Scored(11, 0.5, 0.5, SUBJECT)],
        2: [Scored(12, 0.8, 0.8, SUBJECT), Scored(13, 0.4, 0.4, SUBJECT)],
    }
    outlets = {10: "a", 11: "b", 12: "c", 13: "d"}
    lines = {10: 500, 12: 500}  # 10 and 12 tell one event: only the stronger is shown
    picks = pick(ranked, outlets, storylines=lines)
    assert {c: s.story_id for c, s in picks.items()} == {1: 10, 2: 13}
    # The story's own storyline, as each country told it, fills every line it can.
    picks = pick(ranked, outlets, storylines=lines, own_storyline=500)
    assert {c: s.story_id for c, s in picks.items()} == {1: 10, 2: 12}
    # A storyline already on a line an editor kept counts too.
    picks = pick(ranked, outlets, storylines=lines, used_storylines={500})
    assert {c: s.story_id for c, s in picks.items()} == {1: 11, 2: 13}


@pytest.mark.services
@pytest.mark.django_db
def test_a_box_prefers_its_storylines_story_from_each_country() -> None:
    from django.utils import timezone

    from feeds.models import RelatedSlot
    from feeds.related import boxes

    now = timezone.now() - timedelta(hours=6)
    en = make_story(EN[0], summary=EN[1], source=barents(), countries=("norway",), published=now)
    ru = make_story(
        RU[0],
        summary=RU[1],
        source=barents("ru"),
        countries=("russia",),
        published=now + timedelta(hours=2),
    )
    # An English story tagged Russia on the word "cod": the index finds it, the storyline's
    # Russian telling (no word in common) should still win Russia's line.
    other = make_story(
        "Russian trawlers land more cod in Murmansk",
        summary="Russian trawlers landed more cod in Murmansk this autumn, the port says.",
        source=make_source("The Moscow Times"),
        countries=("russia",),
        published=now - timedelta(days=2),
    )
    assign.assign([other.pk, en.pk, ru.pk])
    assert ru.storyline_membership.storyline_id == en.storyline_membership.storyline_id
    assert other.storyline_membership.storyline_id != en.storyline_membership.storyline_id
    boxes.refresh_boxes([en.pk])
    line = RelatedSlot.objects.get(story=en, country__slug="russia")
    assert line.target_id == ru.pk


def test_a_storyline_first_told_in_russian_takes_the_first_english_headline() -> None:
    line = scoring.Sketch(1, {}, T0, T0, title=RU[0])
    assert scoring.better_title(line, EN[0])
    assert not scoring.better_title(line, RU[0])
    assert not scoring.better_title(scoring.Sketch(1, {}, T0, T0, title=EN[0]), EN_FOLLOW_UP[0])
    edited = scoring.Sketch(1, {}, T0, T0, title=RU[0], title_set_by_editor=True)
    assert not scoring.better_title(edited, EN[0])


@pytest.mark.services
@pytest.mark.django_db
def test_the_storylines_title_turns_english_when_an_english_story_joins() -> None:
    ru = make_story(RU[0], summary=RU[1], source=barents("ru"), published=T0)
    en = make_story(EN[0], summary=EN[1], source=barents(), published=T0 + timedelta(hours=2))
    assign.assign([ru.pk, en.pk])
    line = Storyline.objects.get(memberships__story=ru)
    assert line.story_count == 2 and line.title == EN[0]
