"""Editors' filing conventions that the real labels showed, through ``tag()``'s public result.

Each class of miss found on the real editors' labels has its rule here: a people shared by
several states belongs to the state named (and Inuit in a Danish story are Greenland's); a
person who speaks about a country is the story's actor, a capital that speaks is only quoted;
a ship or firm abroad is filed where it is; a misspelt or transliterated place still places a
story, and a common word one letter from a place does not; a regional newsroom's byline
files a story whose text names no place.
"""

from __future__ import annotations

import pytest

from feeds.tagging.tagger import tag
from feeds.types import TagInput


def story(title: str, text: str = "", outlet: str = "", language: str = "en") -> TagInput:
    return TagInput(
        title=title,
        text=text,
        categories=(),
        outlet=outlet,
        source_name="Eye on the Arctic",
        source_country="",
        language=language,
    )


@pytest.mark.parametrize(
    ("title", "language"),
    [
        ("Inuit seal hunters protest outside a Copenhagen department store", "en"),
        ("Инуиты вышли на акцию протеста в Копенгагене", "ru"),
    ],
)
def test_inuit_in_a_danish_story_are_greenlanders(title: str, language: str) -> None:
    result = tag(story(title, language=language))
    assert result.countries[0] == "greenland"
    assert "denmark" in result.countries
    assert "Inuit" in result.why["greenland"] or "инуит" in result.why["greenland"]


def test_a_shared_people_counts_for_the_state_named_not_the_realm() -> None:
    result = tag(story("Inuit leaders in Nunavut and Copenhagen sign a language accord"))
    assert result.countries[0] == "canada"
    # Without any state named, the people's spread and the outlet decide as before.
    alone = tag(story("Inuit youth gather for a language camp", outlet="KNR"))
    assert alone.primary == "greenland"


@pytest.mark.parametrize(
    ("title", "primary"),
    [
        ("A Russian general warns Finland against joining NATO drills", "russia"),
        ("Российский генерал предупредил Финляндию о последствиях", "russia"),
        ("Norwegian minister accuses Russia of jamming signals", "norway"),
        # A capital or ministry speaking for its government is only quoted.
        ("Kremlin asks Helsinki to stop protests at the border", "finland"),
        # A ship or a firm abroad is filed where it is, not by its flag.
        ("Finnish icebreaker towed to Sweden after the crew was evacuated", "sweden"),
    ],
)
def test_the_actor_who_speaks_and_the_country_addressed(title: str, primary: str) -> None:
    result = tag(story(title, language="en" if title.isascii() else "ru"))
    assert result.primary == primary
    assert len(result.countries) == 2


@pytest.mark.parametrize(
    ("title", "primary"),
    [
        # What a country's researchers found or studied about another country's place is
        # filed under the place studied.
        ("Canadian researchers warn of faster ice loss in Greenland", "greenland"),
        ("Swedish scientists map microplastics in Iceland's fjords", "iceland"),
        ("Российские учёные обнаружили выбросы метана у берегов Аляски", "united-states"),
        # What they do themselves, or where no other country is named, is theirs.
        ("Finnish scientists open a research station on Svalbard", "finland"),
        ("Swedish researchers win EU grant for polar ice study", "sweden"),
        ("Российские учёные получили грант на изучение льда", "russia"),
    ],
)
def test_a_study_is_filed_under_the_place_studied(title: str, primary: str) -> None:
    assert tag(story(title, language="en" if title.isascii() else "ru")).primary == primary


def test_the_why_line_names_the_headlines_subject() -> None:
    result = tag(story("A Russian general warns Finland against joining NATO drills"))
    assert result.why["russia"] == "headline names Russian (the headline's subject)"


def test_a_misspelt_place_still_places_the_story_and_the_why_line_says_so() -> None:
    result = tag(story("Arctic Council ministers met in Stokholm this week"))
    assert result.primary == "sweden"
    assert "spelt Stokholm" in result.why["sweden"]


@pytest.mark.parametrize(
    "title",
    [
        "Listing Rules Change for Junior Miners",  # one letter from Wisting (Norway)
        "Logging Company Expands Its Sawmill",  # one letter from Løgting (Faroes, Denmark)
        "Ireland and Portugal sign a fisheries accord",  # Iceland, Sortland
    ],
)
def test_common_words_one_letter_from_a_place_do_not_place_a_story(title: str) -> None:
    result = tag(story(title, outlet="Yle News"))
    assert result.countries == ("finland",)
    assert result.basis in {"outlet", "fallback"}


@pytest.mark.parametrize(
    ("title", "primary"),
    [("Cruise conference held in Tromsoe", "norway"), ("Port of Luleaa expands", "sweden")],
)
def test_nordic_letters_written_as_digraphs(title: str, primary: str) -> None:
    assert tag(story(title)).primary == primary


@pytest.mark.parametrize(
    ("outlet", "country"),
    [
        ("CBC Nunavut", "canada"),
        ("Jane Doe, Alaska Dispatch", "united-states"),
        ("Сибирь.Реалии", "russia"),
        ("The Arctic Journal", "greenland"),
    ],
)
def test_a_regional_newsroom_files_a_story_that_names_no_place(outlet: str, country: str) -> None:
    result = tag(story("Young people wait months for a counsellor", outlet=outlet))
    assert result.countries == (country,)
    assert outlet.rsplit(", ", 1)[-1] in result.why[country]


@pytest.mark.parametrize(
    ("title", "outlet", "country"),
    [
        # A summary from an unknown wire that names no place but Canada's own institutions.
        ("The federal government considers drones to patrol the North", "", "canada"),
        ("Aboriginal women's groups welcome a new inquiry", "", "canada"),
        # The same words from an Alaskan newsroom are Washington's.
        ("The federal government considers drones to patrol the North", "KTOO", "united-states"),
    ],
)
def test_national_vocabulary_places_a_story_that_names_no_place(
    title: str, outlet: str, country: str
) -> None:
    wire = TagInput(
        title=title,
        text="",
        categories=(),
        outlet=outlet,
        source_name="Northern wire",
        source_country="",
        language="en",
    )
    assert tag(wire).primary == country
