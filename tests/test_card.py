"""The typed model card: written and read back unchanged, old cards still load, bad cards are refused
with the file and the field named, and the model folder's card functions keep TensorFlow out."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from pneumolab.models.card import CARD_VERSION, CardError, InputSpec, ModelCard
from pneumolab.models.files import CARD_FILE, REFERENCE_DIR, load_card, save_card, update_card
from tests.cards import probe_card


def version_0(card: ModelCard) -> dict:
    """``card`` as the kit wrote cards before they had a version: reports at the top level."""
    body = card.to_dict()
    del body["card_version"]
    reports = body.pop("reports")
    return body | {"validation": reports["val"]} | ({"test": reports["test"]} if "test" in reports else {})


@pytest.fixture
def card() -> ModelCard:
    return probe_card(image_size=64, reports={"val": {"recall": 0.95, "roc_auc": 0.99}},
                      command="pneumolab train")


def test_a_card_reads_back_equal_to_what_was_written(card, tmp_path):
    save_card(tmp_path, card)
    assert load_card(tmp_path) == card
    assert json.loads((tmp_path / CARD_FILE).read_text())["card_version"] == CARD_VERSION


def test_a_card_without_a_version_still_loads_with_its_reports_per_split(card, tmp_path):
    old = card.with_report("test", {"recall": 0.97})
    (tmp_path / CARD_FILE).write_text(json.dumps(version_0(old)))
    loaded = load_card(tmp_path)
    assert loaded == old
    assert loaded.report("val")["recall"] == 0.95 and loaded.report("test")["recall"] == 0.97


def test_an_old_card_without_fit_and_scale_gets_the_defaults_it_was_trained_with(card):
    old = version_0(card)
    old["input"] = {"image_size": 64, "channels": 1}
    assert ModelCard.from_json(old).input == InputSpec(64, 1, fit="squash", scale="0-255")


def test_an_old_cards_recorded_model_reads_as_the_architecture_it_named(card):
    recorded = replace(card.training, config={"model": "transfer", "epochs": 12})
    old = version_0(replace(card, training=recorded))
    assert ModelCard.from_json(old).training.config == {"arch": "transfer", "epochs": 12}


def test_the_shipped_reference_card_reads_with_its_numbers():
    reference = load_card(REFERENCE_DIR)
    assert reference.input == InputSpec(224, 1)
    assert reference.threshold == reference.report("val")["threshold"]
    assert reference.report("test")["n"] == reference.data.images["test"]


def test_a_card_from_a_newer_kit_is_refused_naming_the_file(card, tmp_path):
    (tmp_path / CARD_FILE).write_text(json.dumps(card.to_dict() | {"card_version": CARD_VERSION + 1}))
    with pytest.raises(CardError, match=f"{tmp_path / CARD_FILE} was written with model card version "
                                        f"{CARD_VERSION + 1}.*Upgrade pneumolab"):
        load_card(tmp_path)


@pytest.mark.parametrize(("remove", "field"), [(("task",), "task"), (("input", "channels"), "input.channels"),
                                               (("data", "split_seed"), "data.split_seed")])
def test_a_missing_field_is_refused_naming_the_file_and_the_field(card, tmp_path, remove, field):
    body = card.to_dict()
    *parents, last = remove
    holder = body
    for key in parents:
        holder = holder[key]
    del holder[last]
    (tmp_path / CARD_FILE).write_text(json.dumps(body))
    with pytest.raises(CardError, match=f"{tmp_path / CARD_FILE}: field '{field}' is missing"):
        load_card(tmp_path)


@pytest.mark.parametrize(
    ("change", "words"),
    [({"input": {"image_size": 64, "channels": 2}}, "input.channels must be 1 .gray. or 3"),
     ({"input": {"image_size": 64, "channels": 1, "scale": "0-1"}}, "input.scale '0-1' is not supported"),
     ({"input": {"image_size": 64, "channels": 1, "fit": "crop"}}, "input.fit must be one of"),
     ({"input": {"image_size": "big", "channels": 1}}, "input.image_size must be a positive number"),
     ({"classes": "NORMAL"}, "field 'classes' must be a list of class names"),
     ({"threshold": 1.5}, "threshold must lie between 0 and 1"),
     ({"data": "everything"}, "field 'data' must be a mapping"),
     ({"colour": "blue"}, "unknown field 'colour'")],
)
def test_impossible_cards_are_refused_in_words(card, change, words):
    with pytest.raises(CardError, match=f"^probe.json: .*{words}"):
        ModelCard.from_json(json.dumps(card.to_dict() | change), source="probe.json")


def test_text_that_is_not_a_card_is_refused(tmp_path):
    (tmp_path / CARD_FILE).write_text("{ not json")
    with pytest.raises(CardError, match="is not valid JSON"):
        load_card(tmp_path)
    (tmp_path / CARD_FILE).write_text("[1, 2]")
    with pytest.raises(CardError, match="holds a list, not a model card"):
        load_card(tmp_path)


def test_update_card_replaces_fields_and_reports_are_added_per_split(card, tmp_path):
    save_card(tmp_path, card)
    updated = update_card(tmp_path, command="pneumolab train --arch scratch")
    assert updated == load_card(tmp_path) == replace(card, command="pneumolab train --arch scratch")
    scored = updated.with_report("test", {"recall": 0.9})
    assert scored.report("val") == card.report("val") and scored.report("test") == {"recall": 0.9}
    with pytest.raises(KeyError, match="no report on 'train' .it has: val."):
        card.report("train")


def test_reading_cards_does_not_import_tensorflow():
    code = ("import sys; from pneumolab.models.files import load_card, REFERENCE_DIR; "
            "load_card(REFERENCE_DIR); assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
