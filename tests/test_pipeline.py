import numpy as np
import pytest

from pneumolab.data import manifest as data
from pneumolab.preprocess.pipeline import make_dataset


@pytest.fixture
def messy_manifest(messy_data):
    with pytest.warns(UserWarning):
        return data.build_manifest(messy_data)


@pytest.mark.parametrize(("size", "channels"), [(128, 1), (224, 3), (64, 3)])
def test_originals_of_mixed_sizes_and_modes_load(messy_manifest, size, channels):
    train = messy_manifest.loc[messy_manifest["split"] == "train"]
    batches = list(make_dataset(train, image_size=size, channels=channels, batch_size=4))
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert images.shape == (7, size, size, channels)
    assert images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 255
    assert images.std() > 10, "the noise images must survive decoding"
    assert labels.tolist() == data.targets(data.usable(train)).tolist()


def test_shuffled_cached_pipeline_repeats_the_same_images_in_a_new_order(messy_manifest):
    dataset = make_dataset(messy_manifest, image_size=32, batch_size=16, shuffle=True, cache=True, seed=1)
    first = np.concatenate([x.numpy() for x, _ in dataset])
    second = np.concatenate([x.numpy() for x, _ in dataset])
    assert first.shape == second.shape == (9, 32, 32, 1)
    assert not np.array_equal(first, second)
    key = lambda batch: sorted(float(img.sum()) for img in batch)  # noqa: E731
    assert np.allclose(key(first), key(second))


def test_augment_hook_runs_on_batches(messy_manifest):
    calls = []

    def flip(batch):
        calls.append(batch.shape.rank)
        return batch[:, :, ::-1, :]

    plain = next(iter(make_dataset(messy_manifest, image_size=32, batch_size=2)))[0].numpy()
    flipped = next(iter(make_dataset(messy_manifest, image_size=32, batch_size=2, augment=flip)))[0].numpy()
    assert np.array_equal(flipped, plain[:, :, ::-1, :])
    assert calls and set(calls) == {4}


def test_a_file_that_breaks_after_checking_is_skipped_not_fatal(messy_manifest, tmp_path):
    rows = data.usable(messy_manifest)
    victim = rows["path"].iloc[0]
    with open(victim, "r+b") as handle:  # corrupt a file after the manifest was made
        handle.truncate(200)
    images = np.concatenate([x.numpy() for x, _ in make_dataset(rows, image_size=32)])
    assert len(images) == len(rows) - 1


def test_no_usable_rows_is_a_clear_error(messy_manifest):
    with pytest.raises(ValueError, match="No usable images"):
        make_dataset(messy_manifest.loc[~messy_manifest["ok"]])
