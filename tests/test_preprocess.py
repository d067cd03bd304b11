import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pneumolab.data import manifest as data
from pneumolab.preprocess import transforms as preprocess
from pneumolab.preprocess.pipeline import make_dataset
from tests.conftest import jpeg_bytes, noise, png_bytes


@pytest.fixture
def messy_manifest(messy_data):
    with pytest.warns(UserWarning):
        return data.build_manifest(messy_data)


@pytest.mark.parametrize(
    ("array", "channels"),
    [
        (noise((50, 70)), 1),
        (noise((50, 70)), 3),
        (noise((50, 70, 3)), 1),
        (noise((50, 70, 4)), 3),
        (noise((50, 70, 2)), 1),
        (noise((2, 50, 70, 3)), 1),
        (noise((1, 1)), 3),
        (noise((50, 70), np.uint16), 1),
        (noise((50, 70)).astype(np.float32) / 255, 1),
        (noise((50, 70)) > 128, 1),
    ],
)
def test_any_image_becomes_model_input(array, channels):
    out = preprocess.to_model_input(array, 32, channels).numpy()
    expected = (32, 32, channels) if array.ndim < 4 else (array.shape[0], 32, 32, channels)
    assert out.shape == expected
    assert out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255.001


def test_scales_match_across_dtypes():
    gray8 = np.full((8, 8), 128, np.uint8)
    gray16 = np.full((8, 8), 128 * 257, np.uint16)
    grayf = np.full((8, 8), 128 / 255, np.float32)
    results = [preprocess.to_model_input(a, 8).numpy() for a in (gray8, gray16, grayf)]
    for result in results:
        assert np.allclose(result, 128, atol=0.01)


def test_pad_keeps_aspect_ratio_with_black_bars():
    wide = np.full((50, 100), 255, np.uint8)
    out = preprocess.to_model_input(wide, 100, fit="pad").numpy()[..., 0]
    assert np.allclose(out[:20], 0) and np.allclose(out[-20:], 0)
    assert np.allclose(out[30:70], 255)


def test_decode_reads_jpeg_png_16bit_and_rgba_bytes():
    for payload in (jpeg_bytes(noise((40, 30))), png_bytes(noise((40, 30), np.uint16)),
                    png_bytes(noise((40, 30, 4)))):
        for channels in (1, 3):
            assert preprocess.decode(payload, channels).shape == (40, 30, channels)


@pytest.mark.parametrize("bad", [np.zeros((0, 5)), np.zeros((5,)), np.zeros((2, 2, 2, 2, 2))])
def test_impossible_shapes_are_refused(bad):
    with pytest.raises(ValueError):
        preprocess.to_model_input(bad, 8)


# --- the lessons' transforms: any image in, the same layout out ----------------------------------------

TENSOR_TRANSFORMS = [preprocess.scale_0_1, preprocess.standardize_per_image, preprocess.backbone_normalize]
NUMPY_TRANSFORMS = [preprocess.equalize_histogram, preprocess.clahe, preprocess.close_open]
ANY_IMAGE = [
    (noise((1, 1)), (1, 1)),
    (noise((2, 2)), (2, 2)),
    (noise((50, 70), np.uint16), (50, 70)),
    (noise((50, 70, 1)), (50, 70, 1)),
    (noise((50, 70, 3)).astype(np.float32), (50, 70, 3)),  # a float image on the working scale
    (noise((50, 70, 4)), (50, 70, 3)),                      # RGBA: alpha dropped
    (noise((50, 70, 2)), (50, 70, 1)),                      # grey + alpha
    (noise((3, 20, 30, 1)), (3, 20, 30, 1)),                # a batch
    (noise((20, 30)) > 128, (20, 30)),
]


@pytest.mark.parametrize("transform", TENSOR_TRANSFORMS + NUMPY_TRANSFORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("array", "shape"), ANY_IMAGE, ids=lambda a: str(getattr(a, "shape", a)))
def test_every_transform_takes_any_image_and_keeps_its_layout(transform, array, shape):
    out = np.asarray(transform(array))
    assert out.shape == shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


@pytest.mark.parametrize("transform", NUMPY_TRANSFORMS, ids=lambda f: f.__name__)
def test_contrast_and_morphology_stay_on_the_working_scale(transform):
    out = transform(noise((64, 64)))
    assert isinstance(out, np.ndarray)
    assert 0 <= out.min() and out.max() <= 255
    assert out.std() > 10


@pytest.mark.parametrize("transform", TENSOR_TRANSFORMS + NUMPY_TRANSFORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (40, 40, 3), (2, 16, 16, 1)])
def test_constant_images_give_no_nan(transform, shape):
    for value in (0, 128, 255):
        out = np.asarray(transform(np.full(shape, value, np.uint8)))
        assert np.isfinite(out).all(), (transform.__name__, shape, value)


@pytest.mark.parametrize("transform", NUMPY_TRANSFORMS, ids=lambda f: f.__name__)
def test_a_constant_image_has_nothing_to_enhance_and_passes_unchanged(transform):
    assert np.array_equal(transform(np.full((9, 9), 77, np.uint8)), np.full((9, 9), 77, np.float32))


def test_standardize_gives_each_image_of_a_batch_mean_0_and_std_1():
    batch = np.stack([noise((32, 32, 1), seed=1) // 4, noise((32, 32, 1), seed=2) // 2 + 100])
    out = preprocess.standardize_per_image(batch).numpy()
    assert np.allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    assert np.allclose(out.std(axis=(1, 2, 3)), 1, atol=1e-3)
    flat = np.full((2, 8, 8, 1), 9, np.uint8)
    assert np.array_equal(preprocess.standardize_per_image(flat), np.zeros((2, 8, 8, 1)))


def test_a_nearly_flat_image_is_not_blown_up():
    flat = np.full((16, 16), 100.0, np.float32)
    flat[0, 0] = 100.5
    assert np.abs(preprocess.standardize_per_image(flat).numpy()).max() < 1


def test_scale_and_backbone_normalization_ranges():
    image = np.array([[0, 127, 255]], np.uint8)
    assert np.allclose(preprocess.scale_0_1(image), [[0, 127 / 255, 1]])
    assert np.allclose(preprocess.backbone_normalize(image), [[-127 / 128, 0, 1]])
    rgb = np.stack([image] * 3, axis=-1)
    per_channel = preprocess.backbone_normalize(rgb, mean=(0, 127, 255), std=(1, 1, 1)).numpy()
    assert np.allclose(per_channel[0, 1], [127, 0, -128])


def test_floats_on_the_working_scale_match_integers_so_transforms_chain():
    gray8 = noise((40, 40))
    gray16 = gray8.astype(np.uint16) * 257
    working = preprocess.to_0_255(gray8.astype(np.float32) / 255).numpy()  # a raw 0-1 float image enters
    for transform in NUMPY_TRANSFORMS + TENSOR_TRANSFORMS:
        expected = np.asarray(transform(gray8))
        for other in (gray16, working, gray8.astype(np.float32)):
            assert np.allclose(np.asarray(transform(other)), expected, atol=0.05), transform.__name__
    chained = preprocess.close_open(preprocess.clahe(gray8))
    assert chained.std() > 10 and chained.max() <= 255


def test_batches_and_rgb_are_processed_image_by_image_and_channel_by_channel():
    images = [noise((24, 24, 1), seed=s) // (s + 1) for s in range(3)]
    for transform in NUMPY_TRANSFORMS + TENSOR_TRANSFORMS:
        batch = np.asarray(transform(np.stack(images)))
        for one, result in zip(images, batch, strict=True):
            assert np.allclose(result, np.asarray(transform(one)), atol=1e-4), transform.__name__
        rgb = np.asarray(transform(np.repeat(images[0], 3, axis=-1)))
        assert np.allclose(rgb, np.repeat(np.asarray(transform(images[0])), 3, axis=-1), atol=1e-4)


def test_equalization_spreads_a_washed_out_image_over_the_whole_range():
    dull = (noise((64, 64)) // 13 + 100).astype(np.uint8)  # grey levels 100 to 119
    for transform in (preprocess.equalize_histogram, preprocess.clahe):
        out = transform(dull)
        assert out.max() - out.min() > 200, transform.__name__


def test_close_open_removes_specks_smaller_than_the_disk_and_keeps_large_shapes():
    image = np.full((40, 40), 100, np.uint8)
    image[10:30, 10:30] = 200  # a large bright square
    image[5, 5], image[35, 35], image[20, 20] = 255, 255, 0  # two bright specks, one dark speck inside it
    out = preprocess.close_open(image, radius=2)
    assert out[5, 5] == out[35, 35] == 100
    assert out[20, 20] == 200
    assert np.array_equal(out[12:28, 12:28], np.full((16, 16), 200))
    assert np.array_equal(preprocess.close_open(image, radius=0), image.astype(np.float32))
    with pytest.raises(ValueError, match="radius"):
        preprocess.close_open(image, radius=-1)


def test_very_large_originals():
    big = np.tile(np.linspace(0, 255, 3000, dtype=np.float32).astype(np.uint8), (3000, 1))
    for transform in (preprocess.clahe, preprocess.standardize_per_image):
        out = np.asarray(transform(big))
        assert out.shape == (3000, 3000) and np.isfinite(out).all()
    assert preprocess.to_model_input(big, 128).shape == (128, 128, 1)


def test_16_bit_png_and_rgba_files_go_through_every_transform():
    sixteen = png_bytes(noise((40, 30), np.uint16))
    rgba = png_bytes(noise((40, 30, 4)))
    for payload in (sixteen, rgba):
        image = preprocess.decode(payload, channels=3)
        for transform in NUMPY_TRANSFORMS + TENSOR_TRANSFORMS:
            assert np.asarray(transform(image)).shape == (40, 30, 3)
    raw16 = np.asarray(Image.open(io.BytesIO(sixteen)))  # what Pillow reads: the full 16 bits
    assert raw16.dtype == np.uint16
    assert np.asarray(preprocess.clahe(raw16)).shape == (40, 30)


NOT_IMAGES = [np.zeros((0, 5)), np.zeros((5,)), np.zeros((2, 2, 2, 2, 2)), np.zeros((4, 4, 5))]


@pytest.mark.parametrize("bad", NOT_IMAGES, ids=lambda a: str(a.shape))
@pytest.mark.parametrize("transform", TENSOR_TRANSFORMS + NUMPY_TRANSFORMS, ids=lambda f: f.__name__)
def test_transforms_refuse_what_is_not_an_image(transform, bad):
    with pytest.raises(ValueError):
        transform(bad)


def test_in_graph_runs_a_numpy_transform_inside_tf_data(messy_manifest):
    plain = next(iter(make_dataset(messy_manifest, image_size=32, batch_size=4)))[0]
    dataset = make_dataset(messy_manifest, image_size=32, batch_size=4,
                           augment=preprocess.in_graph(preprocess.clahe, clip_limit=0.02))
    images = next(iter(dataset))[0]
    assert images.shape == (4, 32, 32, 1) and images.dtype == tf.float32
    assert np.allclose(images.numpy(), preprocess.clahe(plain, clip_limit=0.02), atol=1e-3)


# --- augmentation ---------------------------------------------------------------------------------------


def test_augmentation_changes_images_but_not_their_shape_dtype_or_range():
    augment = preprocess.augmentation(seed=3)
    batch = noise((4, 48, 40, 1)).astype(np.float32)
    out = augment(batch).numpy()
    assert out.shape == batch.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255
    assert not np.allclose(out, batch)
    assert not np.allclose(augment(batch).numpy(), out), "every call draws new variations"
    for other in (noise((3, 20, 30, 3)), noise((1, 64, 64, 1)).astype(np.float32)):  # uint8, float, any size
        assert augment(other).shape == other.shape
        assert augment(other).dtype == np.float32


def test_augmentation_takes_batches_and_refuses_a_lone_image_rather_than_reshape_it():
    augment = preprocess.augmentation()
    image = noise((48, 40, 1)).astype(np.float32)
    assert augment(image[np.newaxis])[0].shape == image.shape
    with pytest.raises(ValueError):
        augment(image)


def test_augmentation_is_identity_when_not_training():
    batch = noise((2, 32, 32, 1)).astype(np.float32)
    assert np.array_equal(preprocess.augmentation()(batch, training=False).numpy(), batch)


def test_augmentation_with_a_seed_is_reproducible():
    batch = noise((2, 32, 32, 1)).astype(np.float32)
    first = preprocess.augmentation(seed=7)(batch).numpy()
    assert np.array_equal(preprocess.augmentation(seed=7)(batch).numpy(), first)


def test_augmentation_options():
    names = lambda model: [type(layer).__name__ for layer in model.layers]  # noqa: E731
    assert "RandomFlip" not in names(preprocess.augmentation())
    assert names(preprocess.augmentation(flip=True))[0] == "RandomFlip"
    assert "RandomShear" in names(preprocess.augmentation())
    mild, strong = preprocess.augmentation(strength=0.5), preprocess.augmentation(strength=2)
    assert strong.layers[1].height_factor == pytest.approx(4 * mild.layers[1].height_factor)
    for strength in (0, -1, 3.5):
        with pytest.raises(ValueError, match="strength"):
            preprocess.augmentation(strength=strength)


def test_augmentation_inside_tf_data_gives_new_variations_every_epoch(messy_manifest):
    plain = np.concatenate([x.numpy() for x, _ in make_dataset(messy_manifest, image_size=32, batch_size=4)])
    augment = preprocess.augmentation(seed=1)
    dataset = make_dataset(messy_manifest, image_size=32, batch_size=4, augment=augment)
    first = np.concatenate([x.numpy() for x, _ in dataset])
    second = np.concatenate([x.numpy() for x, _ in dataset])
    assert first.shape == plain.shape == (9, 32, 32, 1)
    assert not np.allclose(first, plain)
    assert not np.allclose(first, second)
    assert 0 <= first.min() and first.max() <= 255
