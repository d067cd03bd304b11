import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pneumolab import config
from pneumolab.data import manifest as data

BROKEN = {".DS_Store", "IM-0004-0001.jpeg", "person3_bacteria_4.jpeg",
          "person4_virus_5.jpeg", "notes.txt"}


@pytest.mark.parametrize(
    ("name", "patient", "cause"),
    [
        ("person1481_bacteria_3862.jpeg", "person1481", "bacteria"),
        ("person447_virus_921_1.jpeg", "person447", "virus"),
        ("IM-0629-0001-0002.jpeg", "IM-0629", "normal"),
        ("NORMAL2-IM-1345-0001.jpeg", "NORMAL2-IM-1345", "normal"),
        ("scan_042.png", "scan_042", "unknown"),
    ],
)
def test_file_names_give_patient_and_cause(name, patient, cause):
    assert data.parse_file_name(name) == (patient, cause)


def test_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMOLAB_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataNotFoundError) as error:
        data.build_manifest()
    message = str(error.value)
    assert str(tmp_path / "nowhere") in message
    assert "pneumolab download" in message


def test_empty_data_folder_is_explained(tmp_path):
    (tmp_path / "train" / "NORMAL").mkdir(parents=True)
    with pytest.raises(data.DataNotFoundError, match="holds no files"):
        data.build_manifest(tmp_path)


def test_bad_files_are_reported_and_skipped_with_one_warning(messy_data):
    with pytest.warns(UserWarning, match="5 file\\(s\\) cannot be used") as caught:
        manifest = data.build_manifest(messy_data)
    assert len([w for w in caught if "cannot be used" in str(w.message)]) == 1
    bad = manifest.loc[~manifest["ok"]].set_index("file")["problem"]
    assert set(bad.index) == BROKEN
    assert bad[".DS_Store"] == "hidden system file"
    assert bad["IM-0004-0001.jpeg"] == "empty file"
    assert "not an image" in bad["person3_bacteria_4.jpeg"]
    assert "damaged or incomplete (truncated?)" in bad["person4_virus_5.jpeg"]
    assert bad["notes.txt"].startswith("not an image file")
    assert set(data.usable(manifest)["file"]).isdisjoint(BROKEN)


def test_manifest_records_geometry_mode_and_checksum(messy_data):
    with pytest.warns(UserWarning):
        manifest = data.build_manifest(messy_data).set_index("file")
    assert manifest.loc["IM-0001-0002.jpeg", ["width", "height", "mode"]].tolist() == [900, 1200, "L"]
    assert manifest.loc["person1_virus_2.png", "mode"] == "RGBA"
    assert manifest.loc["IM-0003-0001.png", "mode"].startswith("I")
    assert manifest["md5"].str.len().eq(32).sum() == len(manifest) - 2  # all but the two empty files


def test_real_manifest_counts(real_data):
    manifest = data.build_manifest(real_data)
    counts = manifest.groupby(["split", "label"]).size()
    assert counts[("train", "NORMAL")] == 1341
    assert counts[("train", "PNEUMONIA")] == 3875
    assert counts[("test", "NORMAL")] == 234
    assert counts[("test", "PNEUMONIA")] == 390
    assert manifest["ok"].all()
    assert data.summarize(manifest)["duplicates"]["groups"] == 30


@pytest.fixture(scope="module")
def real_manifest(real_data):
    return data.build_manifest(real_data)


def test_validation_split_never_shares_a_patient(real_manifest):
    carved = data.carve_validation(real_manifest, val_fraction=0.2, seed=7)
    train = carved.loc[carved["split"] == "train"]
    val = carved.loc[carved["split"] == "val"]
    assert set(train["patient"]).isdisjoint(val["patient"])
    assert set(train["md5"]).isdisjoint(val["md5"]), "an identical image on both sides"
    test_rows = carved.index[carved["split"] == "test"]
    assert test_rows.equals(real_manifest.index[real_manifest["split"] == "test"])
    assert 0.17 < len(val) / (len(train) + len(val)) < 0.23


def test_validation_split_is_stratified_and_deterministic(real_manifest):
    first = data.carve_validation(real_manifest, seed=3)
    again = data.carve_validation(real_manifest, seed=3)
    other = data.carve_validation(real_manifest, seed=4)
    pd.testing.assert_series_equal(first["split"], again["split"])
    assert not first["split"].equals(other["split"])
    pool = first.loc[first["split"].isin(["train", "val"])]
    shares = pd.crosstab(pool["split"], data.class_of(pool), normalize="index")
    assert np.allclose(shares.loc["train"], shares.loc["val"], atol=0.03)


def test_stratified_subset_takes_at_most_n_per_class(real_manifest):
    carved = data.carve_validation(real_manifest)
    small = data.stratified_subset(carved, per_class=10)
    assert small.groupby(["split", data.class_of(small)]).size().max() == 10
    assert len(small) == 3 * 3 * 10


def test_one_class_vocabulary(real_manifest):
    """The manifest's cause words are the finest classes, and the yes/no classes are the label folders."""
    assert (real_manifest["cause"] == data.class_of(real_manifest)).all()
    assert set(real_manifest["cause"]) == set(data.TASKS["cause"])
    assert data.TASKS["binary"] == config.LABELS == tuple(sorted(set(real_manifest["label"])))


def test_targets_for_each_task(messy_data):
    with pytest.warns(UserWarning):
        manifest = data.usable(data.build_manifest(messy_data))
    binary = data.targets(manifest, "binary")
    assert binary.tolist() == (manifest["label"] == "PNEUMONIA").astype(int).tolist()
    cause = dict(zip(manifest["file"], data.targets(manifest, "cause"), strict=True))
    assert cause["IM-0001-0001.jpeg"] == 0
    assert cause["person1_bacteria_1.jpeg"] == 1
    assert cause["person1_virus_2.png"] == 2
    with pytest.raises(ValueError, match="Unknown task"):
        data.targets(manifest, "colour")


def test_patients_chained_by_shared_files_form_one_group():
    """p1 and p2 share file A, p2 and p3 share file B: all three must stay on one side."""
    manifest = pd.DataFrame({
        "patient": ["p1", "p2", "p2", "p3", "p4"],
        "md5": ["A", "A", "B", "B", "C"],
    })
    for order in (manifest, manifest.iloc[::-1]):
        groups = data.leakage_groups(order)
        assert groups[order["patient"].isin(["p1", "p2", "p3"])].nunique() == 1
        assert groups[order["patient"] == "p4"].iloc[0] not in set(groups[order["patient"] != "p4"])


def test_the_data_face_reads_and_tabulates_without_tensorflow_or_matplotlib(messy_data):
    code = ("import sys, warnings; warnings.simplefilter('ignore'); from pneumolab import data; "
            "data.class_balance(data.build_manifest(sys.argv[1])); "
            "print(sorted({'tensorflow', 'matplotlib'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code, str(messy_data)], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
