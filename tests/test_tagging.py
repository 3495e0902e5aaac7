"""The country and topic tagger: focused cases and a quality gate on the dev set.

Plain functions, no database: ``feeds.tagging.tagger`` is pure. The held-out set is deliberately
not used here (it is for a final, honest measurement only).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feeds.tagging.countries import COUNTRY_SLUGS, TOPIC_SLUGS
from feeds.tagging.evaluate import evaluate, format_report, load_jsonl
from feeds.tagging.tagger import outlet_countries, parse_categories, tag
from feeds.types import TagInput, TagResult

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT / "tests" / "data" / "tagging_devset.jsonl"


def tagged(title: str, text: str = "", **kw: object) -> TagResult:
    return tag(TagInput(title=title, text=text, **kw))  # type: ignore[arg-type]


def countries(title: str, text: str = "", **kw: object) -> tuple[str, ...]:
    return tagged(title, text, **kw).countries


# --- Gazetteer variants, scripts and diacritics ---------------------------------------------
@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Housing crunch in Tromsø", "norway"),
        ("Housing crunch in Tromso", "norway"),
        ("Tourists flock to Longyearbyen", "norway"),
        ("Coal mine on Spitsbergen closes", "norway"),
        ("Whalers return to Utqiaġvik", "united-states"),
        ("Whalers return to Utqiagvik", "united-states"),
        ("Old photos of Godthåb go on show", "greenland"),
        ("Nuuk council votes on new harbour", "greenland"),
        ("Kola Peninsula town loses its hospital", "russia"),
        ("Yamal gas field expands", "russia"),
        ("Sabetta port gets a new berth", "russia"),
        ("Inuvik airport runway extended", "canada"),
        ("Nunavik mayors meet in Kuujjuaq", "canada"),
        ("Rovaniemi hotels fully booked", "finland"),
        ("Norrbotten steel plant hires 500", "sweden"),
        ("Kiruna mine expands again", "sweden"),
        ("North Slope oil output rises", "united-states"),
        ("Eruption near Grindavík", "iceland"),
        ("Storting approves budget", "norway"),
        ("Folketing debates Arctic defence", "denmark"),
        ("Naalakkersuisut presents budget", "greenland"),
        ("Althing passes fisheries law", "iceland"),
        ("Kremlin comments on Arctic drills", "russia"),
        ("Rosatom orders two more icebreakers", "russia"),
        ("Equinor delays field decision", "norway"),
        ("LKAB finds more rare earths", "sweden"),
        ("Tanbreez gets permit", "greenland"),
        ("Stubb meets troops", "finland"),
        ("Kristersson visits the north", "sweden"),
        ("Murkowski questions nominee", "united-states"),
    ],
)
def test_gazetteer_variants(title: str, expected: str) -> None:
    assert tagged(title).primary == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("В Мурманске открыли новый терминал", "russia"),
        ("Мурманская область получит ледокол", "russia"),
        ("Губернатор Мурманской области уволил министра", "russia"),
        ("Выборы в Архангельске перенесли", "russia"),
        ("Норвегия закрыла порты", "norway"),
        ("В Финнмарке прошли учения", "norway"),  # "финнмарк*" beats "финн*" (Finns)
        ("Финляндия продлила закрытие границы", "finland"),
        ("Шпицберген: туристов стало больше", "norway"),
        ("Швеция усилит контингент на Готланде", "sweden"),
        ("Трамп снова заговорил о Гренландии", "greenland"),
    ],
)
def test_russian_inflections(title: str, expected: str) -> None:
    assert tagged(title, language="ru").primary == expected


# --- The feed's own labels ----------------------------------------------------------------
def test_trusted_category_decides_primary() -> None:
    result = tagged(
        "Kremlin says it is watching Greenland debate closely",
        "The spokesman said Norway and Denmark should not let NATO militarise the north.",
        categories=(
            "* Featured *",
            "Featured • Zone 3",
            "General",
            "Politics",
            "Politics (Russia)",
            "Russia",
        ),
    )
    assert result.primary == "russia"
    assert "politics" in result.topics


def test_category_country_beats_strong_text() -> None:
    result = tagged(
        "Russian fishermen allowed back in Norwegian zone",
        "The Russian trawlers from Murmansk had been banned last year.",
        categories=("Business", "Business (Norway)", "Norway"),
    )
    assert result.primary == "norway"
    assert "russia" in result.countries


def test_denmark_greenland_label_is_resolved_from_the_text() -> None:
    about_greenland = tagged("New runway opens in Nuuk", categories=("Denmark/Greenland",))
    about_denmark = tagged("Frigate returns from Red Sea", categories=("Denmark/Greenland",))
    assert about_greenland.primary == "greenland"
    assert about_denmark.primary == "denmark"


def test_category_parsing_ignores_placement_noise() -> None:
    labels = (
        "* Featured *",
        "Featured • Zone 1",
        "Newsroom Picks • zone 2",
        "* Newsroom Picks *",
        "General",
        "News",
        "Countries",
        "RCI",
        "Special Features",
        "Environment (USA)",
        "Art & Culture",
        "Geopolitics",
    )
    found_countries, found_topics = parse_categories(labels)
    assert found_countries == ["usa"]
    assert set(found_topics) == {"environment", "culture", "security", "politics"}


# --- Outlet and source priors --------------------------------------------------------------
@pytest.mark.parametrize(
    ("outlet", "expected"),
    [
        ("Yle News", "finland"),
        ("Tom Bateman, Yle News", "finland"),
        ("Radio Sweden", "sweden"),
        ("CBC News", "canada"),
        ("By Dylan Robertson · The Canadian Press", "canada"),
        ("KNR", "greenland"),
        ("Alaska Public Media", "united-states"),
        ("Iceland Review", "iceland"),
        ("TASS", "russia"),
        ("Politiken", "denmark"),
        ("NRK", "norway"),
    ],
)
def test_outlet_decides_when_the_text_is_silent(outlet: str, expected: str) -> None:
    result = tagged(
        "Minister resigns after expenses scandal",
        "The minister said she would repay the money.",
        outlet=outlet,
    )
    assert result.countries == (expected,)


def test_wire_and_circumpolar_outlets_give_no_country() -> None:
    for outlet in (
        "Thomson Reuters",
        "The Associated Press",
        "Eye on the Arctic",
        "Arctic Today",
        "gCaptain",
    ):
        assert outlet_countries(outlet) == {}
    # No prior: a wire story naming no place has no country…
    assert countries("Minister resigns after expenses scandal", outlet="Thomson Reuters") == ()
    # …while a circumpolar outlet based somewhere files it at home, as its editors do, and
    # never outvotes a place the text names.
    assert countries("Minister resigns after expenses scandal", outlet="Eye on the Arctic") == (
        "canada",
    )
    assert countries("Minister in Tromsø resigns", outlet="Eye on the Arctic") == ("norway",)


def test_barents_observer_prior_is_weak_so_text_wins() -> None:
    byline = "Atle Staalesen, The Independent Barents Observer"
    weak, strong = outlet_countries(byline), outlet_countries("NRK")
    assert weak is not None and strong is not None
    assert 0 < weak["norway"] < strong["norway"]
    assert tagged("Drills in Severomorsk", outlet=byline).primary == "russia"
    assert tagged("Drills off the coast", outlet=byline).primary == "norway"


def test_source_country_is_the_last_resort() -> None:
    assert (
        tagged(
            "Council votes on budget", source_name="Some Local Paper", source_country="iceland"
        ).primary
        == "iceland"
    )
    # A named place outweighs the source's home country.
    assert (
        tagged(
            "Council votes on budget in Whitehorse",
            source_name="Some Local Paper",
            source_country="iceland",
        ).primary
        == "canada"
    )


# --- Regions that span borders -------------------------------------------------------------
def test_sapmi_alone_follows_the_outlet() -> None:
    text = "The council says wind power is taking land from reindeer herders across Sápmi."
    assert (
        tagged(
            "Sámi Council calls for halt to green colonialism", text, outlet="Radio Sweden"
        ).primary
        == "sweden"
    )
    assert (
        tagged("Sámi Council calls for halt to green colonialism", text, outlet="Yle News").primary
        == "finland"
    )


def test_sami_never_adds_countries_when_a_country_is_named() -> None:
    result = tagged(
        "Sámi Parliament in Inari rejects forestry plan",
        "Reindeer herders across Sápmi say logging destroys pastures.",
    )
    assert result.countries == ("finland",)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Record traffic on the Northern Sea Route", ("russia",)),
        ("Cruise ships crowd the Northwest Passage", ("canada",)),
        ("Hotels in Lapland report record season", ("finland",)),
        ("Swedish Lapland tourism booms", ("sweden",)),
        ("Scandinavian tourists love the Nordic winter", ()),
    ],
)
def test_cross_border_regions(title: str, expected: tuple[str, ...]) -> None:
    assert countries(title) == expected


def test_bering_strait_is_both_sides() -> None:
    assert set(countries("Ship traffic through the Bering Strait doubles")) == {
        "united-states",
        "russia",
    }


def test_barents_sea_alone_is_weak_and_the_source_decides() -> None:
    assert tagged("Cod quota cut in the Barents Sea", outlet="NRK").primary == "norway"
    assert tagged("Northern Fleet drills in the Barents Sea").countries == ("russia",)


# --- Passing mentions are not what a story is about -----------------------------------------
def test_comparisons_are_not_countries() -> None:
    assert countries(
        "Finland considers deposit scheme for plastic bottles, like Norway did", outlet="Yle News"
    ) == ("finland",)
    assert countries("Nunavut hunters want Greenland-style halibut quotas") == ("canada",)
    assert tagged("Unlike Sweden, Finland keeps its border closed").primary == "finland"


def test_participant_lists_in_the_teaser_are_not_secondaries() -> None:
    result = tagged(
        "Nordic defence chiefs meet in Bodø",
        "Commanders from Norway, Sweden, Finland and Denmark agreed on a plan.",
    )
    assert result.countries == ("norway",)


def test_countries_named_in_the_headline_are_kept() -> None:
    result = tagged("Norway, Sweden and Finland to build rail link for troops")
    assert set(result.countries) == {"norway", "sweden", "finland"}


# --- Greenland and Denmark --------------------------------------------------------------
def test_greenland_question_files_under_greenland() -> None:
    result = tagged(
        "Danish parliament approves billions for Arctic defence in Greenland",
        "The Folketing backed new ships for Joint Arctic Command in Nuuk.",
    )
    assert result.countries[:2] == ("greenland", "denmark")
    trump = tagged(
        "Trump renews push to take control of Greenland",
        "The president said the United States needs the island.",
    )
    assert trump.countries == ("greenland", "united-states")


def test_plain_danish_story_stays_in_denmark() -> None:
    assert countries("Copenhagen housing prices hit record") == ("denmark",)


def test_dateline_places_the_story() -> None:
    result = tagged(
        "Voters head to the polls",
        "NUUK, Greenland (AP) — Voters cast ballots on Tuesday.",
        outlet="The Associated Press",
    )
    assert result.primary == "greenland"


# --- Word boundaries and false friends --------------------------------------------------
@pytest.mark.parametrize(
    "title",
    [
        "New nomenclature for plant species",  # not Nome
        "Let us talk about the weather",  # not US
        "Store closes after 40 years",  # not Støre
        "Island life is hard in winter",  # not Ísland
        "Why we are worried",  # not Åre
        "Georgia and Jordan sign trade deal",
        "Paris Agreement targets slip",
        "Turkey exports rise",
        "Chess players trump their rivals",  # the verb, not the president
    ],
)
def test_no_false_countries(title: str) -> None:
    assert countries(title) == ()


def test_case_sensitive_acronyms_and_names() -> None:
    assert tagged("US sends icebreaker north").primary == "united-states"
    assert tagged("Storm floods Nome").primary == "united-states"
    assert tagged("Støre meets Zelensky").primary == "norway"


# --- Topics -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("title", "topic"),
    [
        ("Nuclear icebreaker escorts tankers", "shipping"),
        ("NATO jets intercept bombers", "security"),
        ("New LNG field starts production", "energy"),
        ("Sea ice extent at record low", "environment"),
        ("Inuit leaders call for land claim talks", "indigenous-peoples"),
        ("Parliament votes on election law", "politics"),
        ("Airline cuts flights as tourism slumps", "business"),
        ("Researchers publish permafrost study", "science"),
        ("Hospital faces shortage of nurses", "society"),
        ("Museum opens exhibition of Inuit art", "culture"),
        ("Ледокол провел танкер по Севморпути", "shipping"),
    ],
)
def test_topics(title: str, topic: str) -> None:
    result = tagged(title)
    assert topic in result.topics
    assert set(result.topics) <= set(TOPIC_SLUGS)


def test_result_shape() -> None:
    result = tagged("Kiruna church moved as LKAB mine expands", outlet="Radio Sweden")
    assert result.primary == "sweden"
    assert set(result.countries) <= set(COUNTRY_SLUGS)
    assert len(set(result.countries)) == len(result.countries)
    assert result.scores["sweden"] == 1.0
    empty = tag(TagInput(title=""))
    assert (empty.countries, empty.basis) == ((), "none")


# --- Evaluation, the quality gate and speed ---------------------------------------------
def test_evaluate_and_report() -> None:
    items = [
        {
            "title": "Kiruna mine expands",
            "teaser": "",
            "outlet": "",
            "source": "",
            "source_country": "",
            "categories": [],
            "countries": ["sweden"],
            "topics": ["energy"],
        },
        {
            "title": "Storm hits Nome",
            "teaser": "",
            "outlet": "",
            "source": "",
            "source_country": "",
            "categories": [],
            "countries": ["canada"],
            "topics": ["environment"],
        },
    ]
    report = evaluate(items)
    assert report["n"] == 2
    assert report["primary_accuracy"] == 0.5
    assert report["countries"]["sweden"]["f1"] == 1.0
    assert report["countries"]["canada"]["recall"] == 0.0
    assert len(report["misses"]) == 1
    text = format_report(report)
    assert "primary-country accuracy" in text and "united-states" in text


def test_quality_gate_on_the_dev_set() -> None:
    report = evaluate(load_jsonl(DEVSET))
    assert report["n"] == 442
    assert report["primary_accuracy"] >= 0.90, format_report(report)
    assert report["macro_f1"] >= 0.85, format_report(report)


def test_quality_without_the_feed_labels() -> None:
    # The held-out set has no categories: the text and outlet must carry the decision alone.
    items = [{**item, "categories": []} for item in load_jsonl(DEVSET)]
    assert evaluate(items)["primary_accuracy"] >= 0.90


def test_tagging_is_pure() -> None:
    code = "import sys, feeds.tagging.tagger; sys.exit('django' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
