import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pneumolab import models
from pneumolab.inference import scoring
from tests.cards import probe_card


@pytest.fixture
def card():
    return probe_card(image_size=32, images={"train": 45, "val": 15, "test": 20})


def test_predictions_line_up_with_their_files(tiny_xrays, card):
    scored = scoring.predict_split(models.scratch_cnn(image_size=32), card, "test", tiny_xrays)
    assert len(scored) == 20 and scored["probability"].between(0, 1).all()


def test_val_of_other_data_than_the_cards_is_refused(tiny_xrays, card):
    card = replace(card, data=replace(card.data, images=card.data.images | {"val": 999}))
    with pytest.raises(ValueError, match="not the data the model was trained on"):
        scoring.predict_split(models.scratch_cnn(image_size=32), card, "val", tiny_xrays)


def test_a_file_that_breaks_after_the_manifest_is_a_clear_error(tiny_xrays, card, tmp_path, monkeypatch):
    root = shutil.copytree(tiny_xrays, tmp_path / "copy")
    build = scoring.data.build_manifest

    def build_then_break(data_dir):
        manifest = build(data_dir)
        victim = Path(manifest.loc[manifest["split"] == "test", "path"].iloc[0])
        victim.write_bytes(victim.read_bytes()[:100])
        return manifest

    monkeypatch.setattr(scoring.data, "build_manifest", build_then_break)
    with pytest.raises(ValueError, match="1 test image\\(s\\) cannot be read:\n  .*-0001.png: ") as error:
        scoring.predict_split(models.scratch_cnn(image_size=32), card, "test", root)
    assert "--skip-bad" in str(error.value)


def test_unreadable_test_images_are_named_or_skipped_and_counted(tiny_xrays, card, tmp_path, monkeypatch):
    root = shutil.copytree(tiny_xrays, tmp_path / "copy")
    broken = sorted((root / "test" / "PNEUMONIA").iterdir())[0]
    broken.write_bytes(broken.read_bytes()[:60])  # refused by the data check already
    (root / "test" / "NORMAL" / ".DS_Store").write_bytes(b"not an image file at all")  # not counted
    folder = models.save(models.scratch_cnn(image_size=32), tmp_path / "model", card)
    with pytest.raises(ValueError, match=f"1 test image\\(s\\) cannot be read:\n  {broken}: "):
        scoring.score_model(folder, "test", root, ci=False)
    report = scoring.score_model(folder, "test", root, ci=False, skip_bad=True)
    assert report["images"] == 19
    assert [entry["file"] for entry in report["left_out"]] == [str(broken)]
    assert "damaged or incomplete" in report["left_out"][0]["problem"]
