import numpy as np
import pytest

from pneumolab import preprocess
from tests.conftest import jpeg_bytes, noise, png_bytes


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
