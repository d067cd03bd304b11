"""The embedded sample and the data lookup order: the kit runs on a fresh machine with no data set."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pneumolab import cli, config
from pneumolab.data import manifest as data


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No $PNEUMOLAB_DATA, no data/chest_xray anywhere: only the embedded sample is left."""
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    monkeypatch.delenv(config.QUICK_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "repository_root", lambda: tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return data.build_manifest(config.SAMPLE_DIR)


def test_the_sample_is_small_real_and_credited(sample):
    files = [p for p in config.SAMPLE_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 3 * 2**20
    assert sample["ok"].all() and len(sample) == 180
    counts = sample.assign(cls=data.class_of(sample)).groupby(["split", "cls"]).size().to_dict()
    assert counts == {("train", "normal"): 60, ("train", "bacteria"): 30, ("train", "virus"): 30,
                      ("test", "normal"): 30, ("test", "bacteria"): 15, ("test", "virus"): 15}
    assert (sample["width"] == 224).all() and (sample["mode"] == "L").all()
    assert data.has_patient_ids(sample) and data.has_causes(sample)
    licence = (config.SAMPLE_DIR / "LICENSE").read_text()
    assert "Kermany" in licence and "CC BY 4.0" in licence


def test_the_sample_keeps_what_the_lessons_teach_with(sample):
    assert len(data.duplicate_groups(sample)) == 2, "one pair of byte-identical files"
    assert sample.groupby("patient").size().max() >= 3, "one patient with several films"
    assert set(sample["split"]) == {"train", "test"}


def test_the_sample_is_the_committed_scripts_seeded_choice(real_data):
    spec = importlib.util.spec_from_file_location(
        "make_sample", Path(__file__).resolve().parents[1] / "tools" / "make_sample.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    chosen = script.choose(real_data, np.random.default_rng(script.SEED))

    for split, paths in chosen.items():
        assert {p.name for p in paths} == {p.name for p in (config.SAMPLE_DIR / split).glob("*/*.jpeg")}


def test_without_data_the_kit_uses_the_sample_and_says_so(no_data):
    assert data.find_data_dir() == config.SAMPLE_DIR.resolve()
    assert config.using_sample() and config.quick_mode()
    assert data.describe_source().startswith("Running on the 180-image sample: results are for practice;")
    assert "pneumolab download" in data.describe_source()


def test_quick_mode_can_be_switched_off_on_the_sample(no_data, monkeypatch):
    monkeypatch.setenv(config.QUICK_ENV, "0")
    assert not config.quick_mode()


def test_a_data_folder_in_the_checkout_comes_before_the_sample(no_data):
    (no_data / "data" / "chest_xray" / "train" / "NORMAL").mkdir(parents=True)
    assert data.find_data_dir() == (no_data / "data" / "chest_xray").resolve()
    assert not config.using_sample() and not config.quick_mode()
    assert data.describe_source().startswith("Data: 0 image files in")


def test_a_wrong_data_variable_is_an_error_not_the_sample(no_data, monkeypatch):
    monkeypatch.setenv(config.DATA_ENV, str(no_data / "typo"))
    with pytest.raises(data.DataNotFoundError, match="typo"):
        data.find_data_dir()


def test_info_on_the_sample_says_so_in_one_sentence(no_data, capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Running on the 180-image sample")
    assert "train" in out and "60" in out
