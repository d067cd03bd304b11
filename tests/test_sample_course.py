"""The course's main steps run end to end on the embedded sample, as on a fresh machine with no data set."""

import json

import numpy as np

from pneumolab import cli, config, explain, models
from pneumolab.inference.predict import load_image, predict_images


def test_train_evaluate_predict_and_explain_on_the_sample(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    monkeypatch.delenv(config.QUICK_ENV, raising=False)
    sample = str(config.SAMPLE_DIR)
    out = tmp_path / "scratch"

    assert cli.main(["train", "--data", sample, "--out", str(out), "--epochs", "1"]) == 0
    card = models.load(out)[1]
    assert card.data.quick_subset, "quick mode is the natural mode on the sample"

    report = tmp_path / "test.json"
    assert cli.main(["evaluate", "--model", str(out), "--data", sample, "--split", "test",
                     "--json", str(report), "--no-ci"]) == 0
    scored = json.loads(report.read_text())
    assert scored["images"] == 60 and sum(map(sum, scored["confusion_matrix"])) == 60

    films = sorted((config.SAMPLE_DIR / "test" / "PNEUMONIA").glob("*.jpeg"))[:2]
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(out), *map(str, films)]) == 0
    assert capsys.readouterr().out.count("P(pneumonia)") == 2

    model, card = models.load(out)
    image = load_image(films[0].read_bytes(), films[0].name, card.input.channels).pixels
    answer = predict_images(model, card, [image], explain=True)[0]
    assert answer.heatmap is not None and np.isfinite(answer.heatmap).all()
    assert explain.border_share(answer.heatmap) <= 1
