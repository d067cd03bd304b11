"""The panel's widget logic without a browser: uploads are simulated by setting ``FileUpload.value``
in the ipywidgets 8 format, as the page's JavaScript does."""

from __future__ import annotations

import base64
import datetime
import gc
import html
import io
import re

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from pneumolab import models
from pneumolab.widgets import panel, panel_server
from tests.cards import probe_card
from tests.conftest import noise, png_bytes
from tests.test_predict import CARD, dicom_bytes, save_test_model


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return save_test_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def page(model_folder, monkeypatch):
    monkeypatch.setenv(models.MODEL_ENV, str(model_folder))
    return panel.build_panel()


def find(widget: widgets.Widget, kind: type) -> list:
    """Every widget of ``kind`` inside ``widget``, depth first."""
    found = [widget] if isinstance(widget, kind) else []
    for child in getattr(widget, "children", ()):
        found += find(child, kind)
    return found


def text(widget: widgets.Widget) -> str:
    return " ".join(w.value for w in find(widget, widgets.HTML))


def upload(page: widgets.Widget, *files: tuple[str, bytes]) -> widgets.FileUpload:
    (uploader,) = find(page, widgets.FileUpload)
    uploader.value = tuple(
        dict(name=name, type="", size=len(content), content=memoryview(content),
             last_modified=datetime.datetime.now(datetime.UTC))
        for name, content in files
    )
    return uploader


def pictures(card: widgets.Widget) -> list[tuple[Image.Image, str]]:
    """The pictures a result card shows (JPEGs inlined in its HTML), with their captions."""
    shown = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="([^"]*)">', text(card))
    return [(Image.open(io.BytesIO(base64.b64decode(data))), html.unescape(alt)) for data, alt in shown]


def results(page: widgets.Widget) -> list[widgets.Widget]:
    return list(page.children[-1].children)


def xray_bytes(films) -> bytes:
    return next((films / "test" / "PNEUMONIA").glob("*.jpeg")).read_bytes()


def test_page_offers_uploads_and_says_it_is_not_a_diagnosis(page):
    (uploader,) = find(page, widgets.FileUpload)
    assert uploader.multiple and uploader.accept == ".jpg,.jpeg,.png,.mpo,.dcm"
    (slider,) = find(page, widgets.FloatSlider)
    assert slider.value == 0.5
    assert "not a diagnosis" in text(page)
    assert "test_cnn" in text(page) and "64×64 gray" in text(page)


def test_an_xray_gets_pictures_a_probability_and_a_decision(page, films):
    uploader = upload(page, ("patient.jpeg", xray_bytes(films)))
    (card,) = results(page)
    assert "pl-result" in card._dom_classes
    shown = pictures(card)
    assert len(shown) == 3
    assert all(picture.format == "JPEG" and picture.size[0] > 0 for picture, _ in shown)
    captions = " ".join(caption for _, caption in shown)
    assert "As uploaded (JPEG, 224×224)" in captions and "What the model sees (64×64 gray)" in captions
    assert "Grad-CAM" in captions
    verdict = text(card)
    assert "patient.jpeg" in verdict and "P(pneumonia) = " in verdict
    assert "Decision at threshold 0.5000: " in verdict and ("NORMAL" in verdict or "PNEUMONIA" in verdict)
    assert uploader.value == ()  # the upload is not kept in the widget state


def test_bad_files_get_a_message_and_the_page_keeps_working(page, films):
    upload(page, ("notes.jpeg", b"not an x-ray"), ("empty.png", b""), ("good.jpeg", xray_bytes(films)))
    bad, empty, good = results(page)
    assert "notes.jpeg" in text(bad) and "not an image" in text(bad) and "pl-error" in text(bad)
    assert "empty" in text(empty)
    assert "P(pneumonia)" in text(good)
    assert "1 of 3 files answered" in text(page)
    upload(page, ("again.jpeg", xray_bytes(films)))
    (again,) = results(page)
    assert "again.jpeg" in text(again) and "P(pneumonia)" in text(again)


def test_files_over_the_size_limit_are_refused(page, monkeypatch):
    monkeypatch.setattr(panel, "MAX_UPLOAD_BYTES", 1000)
    upload(page, ("big.png", png_bytes(noise((100, 100)))))
    (refused,) = results(page)
    assert "accepts files up to" in text(refused)


def test_threshold_slider_relabels_without_running_the_model(page, films, monkeypatch):
    upload(page, ("patient.jpeg", xray_bytes(films)))
    probability = float(text(page).split('class="pl-probability">')[1].split("<")[0])
    calls = []
    monkeypatch.setattr(panel.Panel, "_predict", lambda *a, **k: calls.append(1))
    (slider,) = find(page, widgets.FloatSlider)
    slider.value = max(0.01, round(probability - 0.02, 2))
    assert "PNEUMONIA</b>" in text(page) and f"threshold {slider.value:.4f}" in text(page)
    slider.value = min(0.99, round(probability + 0.02, 2))
    assert "NORMAL</b>" in text(page)
    reset = next(b for b in find(page, widgets.Button) if b.description.startswith("Back to"))
    reset.click()
    assert slider.value == 0.5 and calls == []


def test_dicom_uploads_work_and_notes_are_shown(page):
    frames = np.stack([noise((300, 260), np.uint16, seed=s) for s in range(2)])
    upload(page, ("study.dcm", dicom_bytes(frames)))
    (card,) = results(page)
    assert "P(pneumonia)" in text(card) and "2 frames" in text(card)
    assert "As uploaded (DICOM, 260×300)" in [caption for _, caption in pictures(card)]


def test_an_unexpected_failure_is_reported_and_the_upload_cleared(page, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the model crashed")

    monkeypatch.setattr(panel.Panel, "_predict", broken)
    uploader = upload(page, ("x.png", png_bytes(noise((50, 50)))))
    assert "Something went wrong: the model crashed" in text(page)
    assert uploader.value == ()


def test_without_a_model_the_page_explains_instead_of_crashing(tmp_path):
    page = panel.build_panel(tmp_path / "no-model-here")
    assert "No model to run" in text(page) and "not a diagnosis" in text(page)
    assert find(page, widgets.FileUpload) == []


def test_a_model_grad_cam_cannot_explain_still_gets_answers(tmp_path, monkeypatch):
    import keras

    inputs = keras.Input((64, 64, 1))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(flat))  # no 4-D layer at all
    page = panel.build_panel(models.save(model, tmp_path / "dense", CARD))
    assert "Grad-CAM is not available for this model" in text(page)
    upload(page, ("x.png", png_bytes(noise((80, 80)))))
    (card,) = results(page)
    assert "P(pneumonia)" in text(card) and len(pictures(card)) == 2


def test_a_preheated_kernel_warms_up_before_a_student_asks_and_claims_a_slot_after(model_folder,
                                                                                  monkeypatch):
    import voila.utils

    seen, drawn, draw = {}, [], panel.Panel._pictures

    def student_arrives():
        seen["warmed_up"] = drawn == ["blank film"]  # a whole answer, pictures included, already made
        seen["slots_claimed"] = len(panel._HELD_SLOTS)

    monkeypatch.setattr(panel.Panel, "_pictures",
                        lambda self, *args: drawn.append("blank film") or draw(self, *args))
    monkeypatch.setattr(voila.utils, "wait_for_request", student_arrives)
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setenv(models.MODEL_ENV, str(model_folder))
    before = len(panel._HELD_SLOTS)
    page = panel.build_panel()
    assert seen == {"warmed_up": True, "slots_claimed": before}
    assert len(panel._HELD_SLOTS) == before + 1 and find(page, widgets.FileUpload)


def test_a_served_kernel_hides_what_lives_on_from_the_garbage_collector(model_folder, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv(models.MODEL_ENV, str(model_folder))
    panel.build_panel()  # in a notebook or a test: nothing frozen
    assert gc.get_freeze_count() == 0
    monkeypatch.setenv(panel_server.SLOTS_ENV, str(tmp_path))
    monkeypatch.setenv(panel_server.MAX_PAGES_ENV, "3")
    try:
        page = panel.build_panel()
        frozen = gc.get_freeze_count()
        upload(page, ("x.png", png_bytes(noise((80, 80)))))
        assert frozen > 10_000 and "P(pneumonia)" in text(results(page)[0])
    finally:
        gc.unfreeze()


def test_the_model_line_quotes_validation_and_test_when_the_card_has_both(tmp_path):
    from pneumolab.widgets.panel_view import model_summary_html

    card = probe_card(image_size=64, reports={"val": {"recall": 0.95, "specificity": 1.0},
                                              "test": {"recall": 0.977, "specificity": 0.748}})
    line = model_summary_html(card, tmp_path, 0.997)
    assert "on validation: finds 95% of pneumonias, clears 100% of normal X-rays" in line
    assert "on the test split: finds 98% of pneumonias, clears 75% of normal X-rays" in line


def test_try_an_example_answers_sample_films_named_by_their_truth(page):
    button = next(b for b in find(page, widgets.Button) if b.description == "Try an example")

    button.click()
    first = text(page)
    button.click()

    assert "example (normal film)" in first and "P(pneumonia) =" in first
    assert "example (pneumonia film)" in text(page)
    assert len(pictures(page)) >= 2
