"""Tagging the way real newsroom editors file stories (issue 19), without a database:
every story gets a country and a topic, the country a story is about beats the one that is
quoted or compared, every tag says why, and the learned model is reproducible."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from feeds.tagging import tagger
from feeds.tagging.countries import DataError
from feeds.tagging.evaluate import evaluate, format_report, load_jsonl, load_real_labels
from feeds.tagging.tagger import FEATURES, MODEL_PATH, load_model, tag
from feeds.types import TagInput, TagResult

DATA = Path(__file__).resolve().parent / "data"


def tagged(title: str, text: str = "", **kw: str) -> TagResult:
    return tag(TagInput(title=title, text=text, **kw))  # type: ignore[arg-type]


# --- Every story gets a primary country ---------------------------------------------------
def test_a_story_naming_no_country_is_filed_under_the_outlets_home() -> None:
    result = tagged(
        "Avalanche warning issued for the weekend",
        "Heavy snow raises the danger.",
        outlet="Yle News",
    )
    assert result.primary == "finland"
    assert result.basis == "outlet"
    assert "Yle News" in result.why["finland"]


def test_a_circumpolar_outlet_falls_back_to_its_home() -> None:
    result = tagged(
        "Climate scientists warn of more extreme weather in the North",
        "A new report says heavy rain will become more common.",
        outlet="Eye on the Arctic",
    )
    assert (result.primary, result.basis, result.margin) == ("canada", "fallback", 0.0)
    assert "Eye on the Arctic" in result.why["canada"] and "Canada" in result.why["canada"]


def test_a_wire_story_falls_back_to_the_sources_country_then_the_byline() -> None:
    wire = {
        "title": "Researchers sign data-sharing agreement",
        "text": "The deal was signed today.",
    }
    assert tagged(**wire, outlet="Reuters", source_country="norway").primary == "norway"
    by_place = tagged(**wire, outlet="Reuters, Nuuk")
    assert by_place.primary == "greenland"
    assert "byline" in by_place.why["greenland"]
    # Nothing at all to go on: no country rather than a guess.
    assert tagged(**wire, outlet="Reuters").countries == ()


def test_every_story_gets_a_topic() -> None:
    result = tagged("Avalanche warning issued for the weekend", outlet="Yle News")
    assert result.topics
    bare = tagged("Mystery in Tromsø", outlet="NRK")
    assert bare.topics == ("society",)
    assert "general news" in bare.why["society"]


def test_the_labelled_sets_leave_no_story_without_a_country_or_topic() -> None:
    for name in (
        "tagging_devset",
        "tagging_holdout",
        "tagging_realstyle_dev",
        "tagging_realstyle_holdout",
    ):
        report = evaluate(load_jsonl(DATA / f"{name}.jsonl"))
        assert (report["no_country"], report["no_topic"]) == (0, 0), name


# --- About versus quoted, compared or reacted to -------------------------------------------
@pytest.mark.parametrize(
    ("title", "text", "outlet", "primary", "secondary"),
    [
        (
            "Kremlin asks Helsinki to stop protests at the border",
            "Moscow says the demonstrations are provocations.",
            "Yle News",
            "finland",
            "russia",
        ),
        (
            "Poll: most Icelanders now see Russia as a threat",
            "A survey shows how views of Russia have hardened.",
            "RÚV English",
            "iceland",
            None,
        ),
        (
            "Москва пригрозила Осло ответом на учения НАТО",
            "МИД России назвал учения в Финнмарке провокационными.",
            "The Barents Observer (RU)",
            "norway",
            "russia",
        ),
    ],
)
def test_the_country_a_story_is_about_beats_the_one_quoted(
    title: str, text: str, outlet: str, primary: str, secondary: str | None
) -> None:
    result = tagged(title, text, outlet=outlet)
    assert result.primary == primary
    if secondary:
        assert secondary in result.countries[1:]


def test_a_person_speaking_is_the_story_not_a_quote() -> None:
    # A named minister who speaks is the story's own actor, unlike "Moscow warns Oslo".
    result = tagged("Valtonen urges EU to keep pressure on Moscow", outlet="Yle News")
    assert result.primary == "finland"
    assert "russia" in result.countries


# --- Why ------------------------------------------------------------------------------------
def test_each_tag_says_why() -> None:
    result = tagged("New mine opens near Kiruna", "LKAB says production starts in spring.")
    assert result.primary == "sweden"
    assert result.why["sweden"].startswith("headline names Kiruna")
    assert set(result.why) >= set(result.countries)


def test_editors_terms_take_effect_at_once() -> None:
    story = TagInput(title="Protest at the Gruvefjellet mine site", outlet="Reuters")
    assert tag(story).countries == ()
    try:
        tagger.set_extra_terms([("norway", "place", "Gruvefjellet")])
        result = tag(story)
        assert result.primary == "norway"
        assert "Gruvefjellet" in result.why["norway"]
        with pytest.raises(DataError, match="'\\*' may only end a word"):
            tagger.set_extra_terms([("norway", "place", "Gru*vefjellet")])
    finally:
        tagger.set_extra_terms([])
    assert tag(story).countries == ()


# --- The learned model ----------------------------------------------------------------------
def test_the_saved_model_matches_the_tagger_and_is_small() -> None:
    model = load_model(MODEL_PATH)
    assert model is not None and len(model.weights) == len(FEATURES)
    assert MODEL_PATH.stat().st_size < 4000
    assert tagger.MODEL == model


def test_a_model_fitted_for_other_features_is_refused(tmp_path: Path) -> None:
    raw = json.loads(MODEL_PATH.read_text())
    raw["features"] = raw["features"][:-1]
    bad = tmp_path / "model.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(DataError, match="features"):
        load_model(bad)


@pytest.mark.django_db
def test_fit_tagger_reproduces_the_saved_model(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "model.json"
    call_command("fit_tagger", "--output", str(out), stdout=io.StringIO())
    assert json.loads(out.read_text()) == json.loads(MODEL_PATH.read_text())


def test_a_close_call_names_the_model_in_its_why() -> None:
    model = tagger.MODEL
    assert model is not None
    decided = [
        r for r in (tag(tagger_input) for tagger_input in _dev_inputs()) if r.basis == "model"
    ]
    assert decided, "the model decides some close calls of the development set"
    assert all("learned model" in r.why[r.primary or ""] for r in decided)


def _dev_inputs() -> list[TagInput]:
    from feeds.tagging.evaluate import item_input

    return [item_input(i) for i in load_jsonl(DATA / "tagging_devset.jsonl")]


# --- Real labels -------------------------------------------------------------------------------
def test_real_labels_are_read_from_their_tsv(tmp_path: Path) -> None:
    tsv = tmp_path / "labels.tsv"
    tsv.write_text(
        "headline\tcountries\tcategory\toutlet\tdate\tteaser\tkind\tpage_url\n"
        "Ore output at record\tSweden\tBusiness\tRadio Sweden\t2015-06-16\tMines dug more.\tlisting\thttps://x.example/\n"
        "Base opens\tUSA\t\t\t2012-01-01\t\troundup\thttps://x.example/\n",
        encoding="utf-8",
    )
    items = load_real_labels(tsv)
    assert [i["countries"] for i in items] == [["sweden"], ["united-states"]]
    assert items[0]["outlet"] == "Radio Sweden" and items[0]["topics"] is None
    report = evaluate(items)
    assert report["n"] == 2 and report["topic_labelled"] == 0
    assert "n/a (no topic labels)" in format_report(report)
    tsv.write_text(tsv.read_text().replace("\tUSA\t", "\tAtlantis\t"), encoding="utf-8")
    with pytest.raises(ValueError, match="labels.tsv:3: unknown country 'Atlantis'"):
        load_real_labels(tsv)


def test_evaluate_tagging_reports_tuned_held_out_and_real_sets_apart(
    settings, tmp_path: Path
) -> None:
    settings.TAGGING_REAL_LABELS = tmp_path / "absent.tsv"
    out = io.StringIO()
    call_command("evaluate_tagging", "--seconds", "0", stdout=out)
    text = out.getvalue()
    assert "tagging_devset.jsonl (tuned)" in text
    assert "tagging_holdout.jsonl (held-out)" in text
    assert "tagging_realstyle_holdout.jsonl (held-out)" in text
    assert "no real labels at" in text
    assert "worst countries (F1)" in text


# --- evaluate_tagging from a fresh clone's layout -----------------------------------------
REAL_TSV = (
    "headline\tcountries\tcategory\toutlet\tdate\tteaser\tkind\tpage_url\n"
    "Kiruna mine extends shifts\tSweden\tBusiness\tRadio Sweden\t2015-06-16\tLKAB digs more."
    "\tlisting\thttps://x.example/\n"
)


def test_the_real_labels_are_found_beside_the_checkout_or_above_it(tmp_path: Path) -> None:
    from arcticnews.settings import REAL_LABELS_PATH, find_real_labels

    labels = tmp_path / REAL_LABELS_PATH
    # A fresh clone beside shared/, and a worktree two levels down (wt/<name>/). Absent, the
    # sibling path is named (the command says where it looked).
    for checkout in (tmp_path / "arcticnews", tmp_path / "wt" / "h1"):
        assert find_real_labels(checkout) == checkout.parent / REAL_LABELS_PATH
    labels.parent.mkdir(parents=True)
    labels.write_text(REAL_TSV, encoding="utf-8")
    assert find_real_labels(tmp_path / "arcticnews") == labels
    assert find_real_labels(tmp_path / "wt" / "h1") == labels


def test_evaluate_tagging_runs_in_a_fresh_clone_and_reads_the_sibling_labels(
    tmp_path: Path,
) -> None:
    """The command as a newcomer (or CI) runs it: a copy of the checkout's files with
    ``shared/`` beside it, no TAGGING_REAL_LABELS, no database, from another folder."""
    import os
    import shutil
    import subprocess
    import sys

    from django.conf import settings

    base = Path(settings.BASE_DIR)
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=base,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode:
        pytest.skip("not a git checkout: nothing to clone")
    clone = tmp_path / "arcticnews"
    keep = ("manage.py", "arcticnews/", "feeds/", "templates/", "tests/data/tagging_")
    for name in listed.stdout.splitlines():
        if name.startswith(keep) and (base / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / name, clone / name)
    labels = tmp_path / "shared" / "data" / "real-labels" / "rci_dev_labels.tsv"
    labels.parent.mkdir(parents=True)
    labels.write_text(REAL_TSV, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"TAGGING_REAL_LABELS"}}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = subprocess.run(
        [sys.executable, str(clone / "manage.py"), "evaluate_tagging", "--seconds", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"== {labels} (real editors) ==" in run.stdout
    assert "tagging_realstyle_holdout.jsonl (held-out)" in run.stdout
    assert "primary-country accuracy              1.000" in run.stdout.split("(real editors)")[1]
