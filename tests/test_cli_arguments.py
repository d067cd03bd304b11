"""The command line explains itself: numbers checked before TensorFlow loads, with their range; no
TensorFlow start-up lines; bad files reported in the kit's own lines; card counts = images used."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pneumolab import _quiet, cli, limits, models
from pneumolab.data import manifest as manifest_module
from pneumolab.models import backbones
from pneumolab.training.config import TrainConfig
from tests.cards import probe_card
from tests.conftest import png_bytes
from tests.test_predict import png_header, save_test_model

#: Runs ``pneumolab.cli.main`` in a fresh interpreter and reports its exit code and whether TensorFlow
#: was imported by then.
PROBE = """
import json, sys
from pneumolab import cli
try:
    code = cli.main(json.loads(sys.argv[1]))
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules}))
"""


def probe(args: list[str], tmp_path: Path) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


WHOLE = "is out of range (allowed: a whole number of at least"
PROBABILITY = "is out of range (allowed: 0 to 1)"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["train", "--epochs", "0"], 2, f"argument --epochs: 0 {WHOLE} 1)"),
        (["train", "--epochs", "-3"], 2, f"argument --epochs: -3 {WHOLE} 1)"),
        (["train", "--epochs", "two"], 2, "'two' is not a whole number"),
        (["train", "--image-size", "7"], 2, f"argument --image-size: 7 {WHOLE} 15)"),
        (["train", "--image-size", "0"], 2, f"argument --image-size: 0 {WHOLE} 15)"),
        (["train", "--arch", "transfer", "--image-size", "24"], 1,
         "--image-size must be at least 32 for the transfer model"),
        (["train", "--seed", "-1"], 2, f"argument --seed: -1 {WHOLE} 0)"),
        (["predict", "x.png", "--threshold", "2"], 2, f"argument --threshold: 2 {PROBABILITY}"),
        (["evaluate", "--threshold", "nan"], 2, f"argument --threshold: nan {PROBABILITY}"),
        (["panel", "--port", "70000"], 2, "--port"),
    ],
)
def test_bad_numbers_are_refused_before_tensorflow_loads_with_their_range(args, code, message, tmp_path):
    out = tmp_path / "run"
    if args[0] == "train":
        args = [*args, "--out", str(out)]
    result, err = probe(args, tmp_path)
    assert result == {"code": code, "tensorflow": False}
    assert message in err and "Traceback" not in err and "\x1b[" not in err
    assert not out.exists()


def test_the_smallest_image_sizes_are_the_smallest_that_build():
    batch = np.zeros((1, limits.MIN_IMAGE_SIZE["scratch"], limits.MIN_IMAGE_SIZE["scratch"], 1), "float32")
    assert models.scratch_cnn(image_size=batch.shape[1])(batch).shape == (1, 1)
    with pytest.raises(ValueError):
        models.scratch_cnn(image_size=batch.shape[1] - 1)
    assert limits.MIN_IMAGE_SIZE["transfer"] == backbones.MIN_SIZE


def test_library_training_refuses_the_same_values():
    with pytest.raises(ValueError, match="--epochs must be at least 1, got 0"):
        TrainConfig(epochs=0, quick=False)
    with pytest.raises(ValueError, match="at least 15 for the scratch model"):
        TrainConfig(arch="scratch", image_size=8, quick=False)


# ----------------------------------------------------------------------------- TensorFlow's start-up lines


def test_importing_pneumolab_first_silences_tensorflow_but_not_real_errors():
    code = ("import pneumolab, keras, sys\nimport tensorflow as tf\nprint(tf.constant(2).numpy())\n"
            "print('a genuine message', file=sys.stderr)\nraise ValueError('a genuine error')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "2"
    assert "a genuine message" in done.stderr and "ValueError: a genuine error" in done.stderr
    assert not [line for line in done.stderr.splitlines() if _quiet.STARTUP_LINE.fullmatch(line)]
    assert "absl" not in done.stderr and "cpu_feature_guard" not in done.stderr


def test_without_pneumolab_tensorflow_prints_what_the_filter_removes():
    """The filter is tested against the lines this TensorFlow really prints (if it prints any)."""
    done = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert all(_quiet.STARTUP_LINE.fullmatch(line) for line in lines), lines


def test_a_cli_run_prints_only_the_kits_own_lines(tmp_path):
    folder = save_test_model(tmp_path / "model")
    good, bad, huge = tmp_path / "good.png", tmp_path / "bad.jpeg", tmp_path / "huge.png"
    good.write_bytes(png_bytes(np.tile(np.arange(64, dtype=np.uint8), (64, 1))))
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    huge.write_bytes(png_header(10_000, 10_000))  # over Pillow's warning limit, under its error limit
    pneumolab = Path(sys.executable).with_name("pneumolab")
    command = [str(pneumolab)] if pneumolab.exists() else [sys.executable, "-m", "pneumolab.cli"]
    done = subprocess.run([*command, "predict", str(good), str(bad), str(huge), "--model", str(folder)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout.startswith(f"{good}: P(pneumonia) ")
    exporting = f"Exporting {folder / 'model.keras'} to LiteRT (once; about 20 s)..."  # unless cached
    assert [line for line in done.stderr.splitlines() if line != exporting] == [
        f"pneumolab predict: {bad}: This file is not an image PneumoLab can read: use a JPEG, PNG or DICOM "
        "(.dcm) file.",
        f"pneumolab predict: {huge}: The image is 10000 x 10000 pixels (100 megapixels); the limit is 40 "
        "megapixels. A chest X-ray is much smaller: reduce it and try again.",
    ]


# ----------------------------------------------------------------------------- bookkeeping


def test_info_reports_bad_files_as_the_kits_own_lines(messy_data, capsys):
    assert cli.main(["info", "--data", str(messy_data)]) == 0
    err = capsys.readouterr().err
    assert "pneumolab info: 5 file(s) cannot be used and will be skipped:" in err
    assert "person4_virus_5.jpeg: This JPEG file is damaged or incomplete" in err
    assert "Warning" not in err and "build_manifest(" not in err and ".py:" not in err


def test_the_card_counts_the_images_training_used(tiny_xrays, tmp_path, monkeypatch, capsys):
    root = shutil.copytree(tiny_xrays, tmp_path / "data")
    build = manifest_module.build_manifest
    lost: list[Path] = []

    def build_then_delete(data_dir):
        manifest = build(data_dir)
        lost.append(Path(manifest.loc[manifest["split"] == "train", "path"].iloc[0]))
        lost[0].unlink()  # deleted after the check, before training reads it
        return manifest

    monkeypatch.setattr(manifest_module, "build_manifest", build_then_delete)
    code = cli.main(["train", "--epochs", "1", "--image-size", "32", "--data", str(root),
                     "--out", str(tmp_path / "run")])
    assert code == 0
    images = models.load_card(tmp_path / "run").data.images
    assert images["train"] + images["val"] == 59 and images["test"] == 20
    err = capsys.readouterr().err
    assert f"pneumolab train: {lost[0]} could not be read and is skipped: the file is gone" in err


def test_evaluate_names_an_unreadable_test_image_and_skips_it_on_request(tiny_xrays, tmp_path, capsys):
    root = shutil.copytree(tiny_xrays, tmp_path / "data")
    broken = sorted((root / "test" / "NORMAL").iterdir())[0]
    broken.write_bytes(broken.read_bytes()[:80])
    folder = models.save(models.scratch_cnn(image_size=32), tmp_path / "model", probe_card(image_size=32))
    common = ["evaluate", "--model", str(folder), "--data", str(root), "--no-ci"]
    assert cli.main(common) == 1
    err = capsys.readouterr().err
    assert f"pneumolab evaluate: 1 test image(s) cannot be read:\n  {broken}: This PNG file is damaged" in err
    assert "--skip-bad" in err
    assert cli.main([*common, "--skip-bad", "--json", str(tmp_path / "report.json")]) == 0
    assert "probe on test (19 images; 1 unreadable left out)" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["images"] == 19 and report["left_out"][0]["file"] == str(broken)
