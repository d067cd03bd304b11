"""Lesson helpers: data tables (data.eda), their figures (viz.data) and the preprocessing explorer."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from pneumolab.data import eda
from pneumolab.data import manifest as data
from pneumolab.preprocess import steps
from pneumolab.preprocess import transforms as preprocess
from pneumolab.viz import data as data_plots
from pneumolab.viz import preprocess as vizp
from pneumolab.widgets import preprocessing as live_explorer
from tests.conftest import noise


@pytest.fixture
def messy(messy_data):
    with pytest.warns(UserWarning):
        return data.build_manifest(messy_data)


@pytest.fixture(scope="module")
def real(real_data):
    return data.build_manifest(real_data)


def renders(figure: Figure, tmp_path) -> bool:
    figure.savefig(tmp_path / "figure.png", dpi=40)
    return (tmp_path / "figure.png").stat().st_size > 0


# --- class balance and patients ------------------------------------------------------------------------


def test_class_balance_counts_usable_images_per_split_and_class(messy):
    table = eda.class_balance(messy)
    assert list(table.columns) == ["NORMAL", "PNEUMONIA", "bacteria", "virus", "total", "PNEUMONIA %"]
    assert table.loc["train"].tolist() == [4, 3, 2, 1, 7, pytest.approx(42.9)]
    assert table.loc["test"].tolist() == [1, 1, 0, 1, 2, 50.0]


def test_class_balance_of_the_real_data(real):
    table = eda.class_balance(real)
    assert table[["NORMAL", "PNEUMONIA", "bacteria", "virus"]].to_dict("index") == {
        "train": {"NORMAL": 1341, "PNEUMONIA": 3875, "bacteria": 2530, "virus": 1345},
        "test": {"NORMAL": 234, "PNEUMONIA": 390, "bacteria": 242, "virus": 148},
    }


def test_images_per_patient(messy):
    table = eda.images_per_patient(messy).set_index(["split", "patient"])
    assert table.loc[("train", "person1"), "images"] == 2
    assert table.loc[("train", "IM-0001"), "images"] == 2
    assert table["images"].sum() == len(data.usable(messy))


def test_a_random_split_leaks_patients_and_the_grouped_split_does_not(real):
    table = eda.split_leakage(real, seeds=[0])
    random, grouped = table.loc[eda.RANDOM_SPLIT], table.loc[eda.GROUPED_SPLIT]
    assert random["patients on both sides"] > 300
    assert random["val images whose patient is in train (%)"] > 30
    assert random["duplicate groups on both sides"] > 0
    assert grouped["patients on both sides"] == grouped["duplicate groups on both sides"] == 0
    assert random["val images"] == pytest.approx(0.2 * 5216, abs=1)


@pytest.mark.filterwarnings("ignore:The least populated class")
def test_split_leakage_on_a_small_set_and_without_training_images(messy):
    table = eda.split_leakage(messy, val_fraction=0.5, seeds=[0, 1])
    assert table.loc[eda.GROUPED_SPLIT, "patients on both sides"] == 0
    with pytest.raises(ValueError, match="no training images"):
        eda.split_leakage(messy.loc[messy["split"] == "test"])


def test_patient_ids_in_both_train_and_test(real, messy):
    shared = eda.shared_patient_ids(real)
    assert len(shared) == 170
    assert (shared["train images"] > 0).all() and (shared["test images"] > 0).all()
    assert not shared["same cause"].any()
    assert eda.shared_patient_ids(messy).empty


def test_the_class_balance_figure_shows_the_finest_classes_in_the_vocabulary_order(messy):
    figure = data_plots.plot_class_balance(eda.class_balance(messy))
    labels, right = figure.axes[0], figure.axes[1]
    assert [t.get_text() for t in labels.get_legend().get_texts()] == ["NORMAL", "PNEUMONIA"]
    assert [t.get_text() for t in right.get_legend().get_texts()] == list(data.TASKS["cause"])


@pytest.mark.filterwarnings("ignore:The least populated class")
def test_the_patient_figures_render(messy, tmp_path):
    for figure in (data_plots.plot_class_balance(eda.class_balance(messy)),
                   data_plots.plot_images_per_patient(eda.images_per_patient(messy)),
                   data_plots.plot_split_leakage(eda.split_leakage(messy, 0.5, seeds=[0]))):
        assert isinstance(figure, Figure) and renders(figure, tmp_path)


# --- duplicates ------------------------------------------------------------------------------------------


def test_a_duplicate_pair_shows_both_files_and_a_zero_difference(real, tmp_path):
    figure = data_plots.plot_duplicate_pair(eda.duplicate_pair(real, group=0))
    assert len(figure.axes) == 3
    assert figure.axes[-1].get_title().endswith("max = 0")
    assert renders(figure, tmp_path)


def test_no_duplicate_group_is_a_clear_error(messy):
    with pytest.raises(ValueError, match="No duplicate group"):
        eda.duplicate_pair(messy)


# --- geometry --------------------------------------------------------------------------------------------


def test_geometry_comes_from_the_manifest_sizes_of_originals(messy, tmp_path):
    table = eda.geometry(messy).set_index("file")
    first = table.loc["IM-0001-0001.jpeg"]  # a 600-row, 450-column original
    assert (first["width"], first["height"], first["aspect"]) == (450, 600, 0.75)
    assert first["megapixels"] == pytest.approx(0.27)
    summary = eda.geometry_summary(messy)
    assert summary.loc["NORMAL", "distinct_sizes"] == 5
    assert summary.loc["NORMAL", "width_max"] == 900
    assert "RGB" in summary.loc["PNEUMONIA", "modes"]
    assert renders(data_plots.plot_geometry(eda.geometry(messy)), tmp_path)


def test_size_shortcut_auc(messy, real):
    auc = eda.shortcut_auc(messy)
    assert list(auc.index) == ["train", "test"]
    assert ((auc >= 0) & (auc <= 1)).all().all()
    resized = eda.shortcut_auc(real)
    assert (resized[["width", "height", "megapixels", "aspect"]] == 0.5).all().all()


def test_geometry_needs_a_checked_manifest(messy_data):
    with pytest.warns(UserWarning):
        unchecked = data.build_manifest(messy_data, check=False)
    with pytest.raises(ValueError, match="check=True"):
        eda.geometry(unchecked)


# --- pixels ----------------------------------------------------------------------------------------------


def test_read_gray_scales_16_bit_files_and_shrinks_large_ones(tmp_path):
    Image.fromarray(np.full((60, 80), 32896, np.uint16)).save(tmp_path / "sixteen.png")
    Image.fromarray(noise((50, 40, 4))).save(tmp_path / "rgba.png")
    Image.fromarray(noise((1200, 900))).save(tmp_path / "large.jpeg")
    sixteen = eda.read_gray(tmp_path / "sixteen.png")
    assert sixteen.dtype == np.uint8 and np.all(sixteen == 128)  # not clipped to 255
    assert eda.read_gray(tmp_path / "rgba.png").shape == (50, 40)
    assert max(eda.read_gray(tmp_path / "large.jpeg").shape) == 256
    assert eda.read_gray(tmp_path / "large.jpeg", max_side=None).shape == (1200, 900)


def test_intensity_table_and_figures(messy, tmp_path):
    table = eda.intensity_table(messy, bins=16)
    hist = table.filter(like="hist_")
    assert len(table) == len(data.usable(messy)) and hist.shape[1] == 16
    assert np.allclose(hist.sum(axis=1), 1)
    assert table["mean"].between(0, 255).all()
    assert renders(data_plots.plot_intensity(table), tmp_path)
    samples = data_plots.plot_samples(eda.sample_images(messy, per_class=3))
    assert len(samples.axes) == 9 and renders(samples, tmp_path)


# --- the preprocessing explorer ------------------------------------------------------------------------


def test_load_examples_reads_like_the_pipeline(messy):
    examples = steps.load_examples(messy, per_class=1)
    assert [name.split(":")[0] for name in examples] == ["normal", "bacteria", "virus"]
    for image in examples.values():
        assert image.ndim == 3 and image.shape[-1] == 1 and image.dtype == np.float32
        assert 0 <= image.min() and image.max() <= 255


def test_every_image_step_keeps_an_image_on_the_working_scale():
    image = preprocess.to_0_255(noise((90, 70, 1))).numpy()
    for name, step in steps.image_steps(size=64).items():
        out = np.asarray(step(image))
        assert out.ndim == 3 and out.shape[-1] == 1, name
        assert 0 <= out.min() and out.max() <= 255, name
    chain = ["squash", "CLAHE", "augmentation (random)"]
    chained = steps.apply_chain(image, chain, "standardize per image", steps.image_steps(size=64))
    assert chained.shape == (64, 64, 1)
    assert abs(chained.mean()) < 1e-3


def test_comparison_figures_and_costs(messy, tmp_path):
    images = {"a": noise((40, 40, 1)).astype(np.float32), "b": noise((30, 50, 1), seed=2).astype(np.float32)}
    figure = vizp.compare(images, steps.NORMALIZATIONS, histograms=True)
    assert len(figure.axes) == 2 * 2 * len(steps.NORMALIZATIONS) and renders(figure, tmp_path)
    assert len(vizp.compare(images, {"same": lambda x: x}).axes) == 2
    augmented = vizp.show_augmentations(images["a"], preprocess.augmentation(seed=1), n=3)
    assert len(augmented.axes) == 4 and renders(augmented, tmp_path)
    costs = steps.time_steps(images["a"], {"CLAHE": preprocess.clahe}, repeat=1)
    assert costs.loc["CLAHE", "ms per image"] >= 0
    speed = steps.epoch_throughput(messy, {"plain": None, "augmented": preprocess.augmentation()}, 32)
    assert list(speed.index) == ["plain", "augmented"] and (speed["images per second"] > 0).all()


def test_the_explorer_redraws_when_a_control_changes(monkeypatch):
    drawn = []

    def render(image, result, title):
        drawn.append((result.shape, title))
        return Figure(figsize=(1, 1))

    monkeypatch.setattr(live_explorer, "render", render)
    examples = {"one": noise((60, 60, 1)).astype(np.float32), "two": noise((80, 40, 1)).astype(np.float32)}
    panel = live_explorer.preprocessing_explorer(examples)
    assert drawn[-1] == ((128, 128, 1), "squash → CLAHE → none (0-255)")
    assert panel.still.format in {"png", "jpeg"}, "a still of the first picture, for a stored notebook"
    controls = {getattr(w, "description", ""): w for box in panel.children[:3] for w in box.children}
    controls["step 1"].value = "pad"
    controls["size"].value = 64
    controls["then"].value = "scale to 0-1"
    assert drawn[-1] == ((64, 64, 1), "pad → CLAHE → scale to 0-1")
    controls["image"].value = "two"
    assert len(drawn) == 5


def test_flip_augmentations_say_which_variations_are_mirrored():
    image = np.zeros((24, 24, 1), np.float32)
    image[:, :6] = 255  # bright on the left: a mirrored copy is bright on the right
    figure = vizp.show_augmentations(image, preprocess.augmentation(flip=True, strength=0.1, seed=4), n=6)
    titles = [ax.get_title().split("\n")[0] for ax in figure.axes[1:]]
    shown = [np.asarray(ax.get_images()[0].get_array()) for ax in figure.axes[1:]]
    for title, variant in zip(titles, shown, strict=True):
        bright_right = variant[:, -6:].mean() > variant[:, :6].mean()
        assert title.endswith(", FLIPPED") == bright_right, title
    assert any(t.endswith(", FLIPPED") for t in titles) and any(t.endswith("not flipped") for t in titles)
