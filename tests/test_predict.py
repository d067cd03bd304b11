"""The prediction path: reading uploads safely (JPEG, PNG, DICOM, and every kind of bad file),
predicting with a model card, the confidence words, and ``pneumolab predict``."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageFile
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pneumolab import cli, models
from pneumolab.inference import predict
from pneumolab.inference.predict import ImageError, confidence_phrase, load_image, predict_images, read_image
from pneumolab.preprocess import transforms as preprocess
from tests.cards import probe_card
from tests.conftest import jpeg_bytes, noise, png_bytes

CARD = probe_card(image_size=64, name="test_cnn")


def save_test_model(folder: Path) -> Path:
    """An untrained 64-pixel gray scratch CNN with a minimal model card: enough to run every path."""
    import keras

    keras.utils.set_random_seed(0)
    return models.save(models.scratch_cnn(image_size=64), folder, CARD)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return save_test_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def loaded(model_folder):
    return models.load(model_folder)


def encoded(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **options)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims its size: signature, IHDR, a tiny IDAT, IEND (a decompression-bomb stand-in)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b""
    )


def dicom_bytes(pixels: np.ndarray | None, photometric: str = "MONOCHROME2", **attributes) -> bytes:
    """A DICOM file (with preamble) holding ``pixels`` (2-D, or 3-D for several frames), or no image."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    dataset.Modality = "DX"
    if pixels is not None:
        dataset.set_pixel_data(pixels, photometric, bits_stored=8 * pixels.dtype.itemsize)
    for name, value in attributes.items():
        setattr(dataset, name, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- JPEG and PNG


def test_jpeg_is_decoded_exactly_as_in_training():
    content = jpeg_bytes(noise((120, 90)))
    pixels = read_image(content, "x.jpeg")
    assert pixels.dtype == np.uint8 and pixels.shape == (120, 90, 1)
    np.testing.assert_array_equal(pixels, preprocess.decode(content, channels=1).numpy())


def test_colour_stays_colour_unless_the_model_wants_gray():
    content = jpeg_bytes(noise((50, 60, 3)))
    assert read_image(content).shape == (50, 60, 3)
    np.testing.assert_array_equal(read_image(content, channels=1), preprocess.decode(content, 1).numpy())


def test_16_bit_png_is_scaled_to_8_bits():
    array = np.full((40, 30), 65535, np.uint16)
    array[:20] = 257 * 100
    pixels = read_image(png_bytes(array))
    assert pixels.shape == (40, 30, 1)
    assert pixels[0, 0, 0] == 100 and pixels[-1, -1, 0] == 255


def test_rgba_and_palette_png_are_read_without_alpha():
    rgba = noise((32, 32, 4))
    assert read_image(png_bytes(rgba)).shape == (32, 32, 3)
    np.testing.assert_array_equal(read_image(png_bytes(rgba)), rgba[..., :3])
    palette = Image.fromarray(noise((20, 20, 3))).convert("P")
    assert read_image(encoded(palette, format="PNG")).shape == (20, 20, 3)
    assert read_image(png_bytes(rgba), channels=1).shape == (32, 32, 1)


def test_animated_png_uses_the_first_frame_and_says_so():
    frames = [Image.fromarray(noise((24, 24), seed=s)) for s in range(3)]
    content = encoded(frames[0], format="PNG", save_all=True, append_images=frames[1:])
    image = load_image(content, "cine.png")
    np.testing.assert_array_equal(image.pixels[..., 0], np.asarray(frames[0]))
    assert image.format == "PNG" and "3 frames" in image.notes[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"Dear students, the exam is on Monday.", "not an image"),
        (b"%PDF-1.7\n" + bytes(300), "not an image"),
        (jpeg_bytes(noise((300, 300)))[:1500], "damaged or incomplete"),
        (png_bytes(noise((300, 300)))[:5000], "damaged or incomplete"),
    ],
    ids=["empty", "text", "pdf", "truncated-jpeg", "truncated-png"],
)
def test_bad_files_are_refused_in_plain_words(content, message):
    with pytest.raises(ImageError, match=message):
        read_image(content, "upload.jpeg")


@pytest.mark.parametrize("kind", ["GIF", "BMP", "TIFF", "WEBP"])
def test_other_image_formats_are_named_and_refused(kind):
    content = encoded(Image.fromarray(noise((16, 16))), format=kind)
    with pytest.raises(ImageError, match=f"This is a {kind} image"):
        read_image(content)


@pytest.mark.parametrize(("side", "message"), [(7000, "49 megapixels"), (100_000, "far too large")])
def test_huge_images_are_refused_from_the_header_before_decoding(side, message, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a huge image must not be decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never)  # the reader's only way to pixels
    with pytest.raises(ImageError, match=message):
        read_image(png_header(side, side))


def test_a_dcm_name_does_not_make_a_dicom():
    with pytest.raises(ImageError, match="not a DICOM file"):
        read_image(b"just some text", "scan.dcm")


# ----------------------------------------------------------------------------- DICOM


def test_dicom_is_rescaled_windowed_and_scaled_to_8_bits():
    raw = np.tile(np.arange(0, 1000, 10, dtype=np.uint16), (50, 1))  # 50 x 100, stored 0..990
    content = dicom_bytes(raw, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=0, WindowWidth=1000)
    image = load_image(content, "chest.dcm")
    values = 2.0 * raw - 1000  # -1000 .. 980; window -500 .. 500
    expected = np.round((np.clip(values, -500, 500) + 500) * 255 / 1000).astype(np.uint8)
    assert image.format == "DICOM" and image.notes == ()
    np.testing.assert_array_equal(image.pixels[..., 0], expected)


def test_dicom_without_window_uses_min_and_max():
    raw = np.array([[100, 180], [260, 500]], np.uint16)
    pixels = read_image(dicom_bytes(raw))
    np.testing.assert_array_equal(pixels[..., 0], [[0, 51], [102, 255]])


def test_monochrome1_is_inverted_so_bone_is_white():
    raw = np.array([[0, 1000], [2000, 4000]], np.uint16)
    normal = read_image(dicom_bytes(raw, "MONOCHROME2"))
    inverted = read_image(dicom_bytes(raw, "MONOCHROME1"))
    np.testing.assert_array_equal(inverted, 255 - normal)
    assert inverted[0, 0, 0] == 255


def test_multi_frame_dicom_uses_the_first_frame_and_says_so():
    frames = np.stack([np.full((8, 10), v, np.uint8) for v in (10, 200, 90)])
    frames[0, 0, 0] = 250  # the first frame is not flat, so min/max scaling shows it
    image = load_image(dicom_bytes(frames))
    assert image.pixels.shape == (8, 10, 1)
    assert image.pixels[0, 0, 0] == 255 and image.pixels[1, 1, 0] == 0
    assert "3 frames" in image.notes[0]


def test_dicom_gray_can_be_given_three_channels():
    assert read_image(dicom_bytes(noise((6, 7))), channels=3).shape == (6, 7, 3)


def test_dicom_without_pixel_data_is_refused():
    with pytest.raises(ImageError, match="no pixel data"):
        read_image(dicom_bytes(None, PatientName="Nobody"))


def test_dicom_claiming_a_huge_image_is_refused_before_decoding():
    content = dicom_bytes(noise((4, 4)), Rows=10_000, Columns=10_000)
    with pytest.raises(ImageError, match="100 megapixels"):
        read_image(content)


def test_dicom_with_truncated_pixel_data_is_refused():
    content = dicom_bytes(noise((64, 64)))
    with pytest.raises(ImageError, match="cannot be decoded"):
        read_image(content[:-2000])


def test_dicom_with_a_broken_header_is_refused():
    content = dicom_bytes(noise((8, 8)))
    with pytest.raises(ImageError, match="damaged"):
        read_image(content[:140] + b"\xff" * 40)
    with pytest.raises(ImageError, match="cut short"):
        read_image(content[:300])


# ----------------------------------------------------------------------------- predictions


def test_predictions_follow_the_model_card(loaded):
    model, card = loaded
    images = [read_image(jpeg_bytes(noise((300, 200), seed=s))) for s in range(3)]
    answers = predict_images(model, card, images, explain=True)
    expected = model(tf.stack([preprocess.to_model_input(i, 64, 1) for i in images]), training=False).numpy()
    for answer, image, score in zip(answers, images, expected[:, 0], strict=True):
        assert answer.probability == pytest.approx(float(score), abs=1e-6)
        assert answer.threshold == 0.5
        assert answer.label == ("PNEUMONIA" if answer.probability >= 0.5 else "NORMAL")
        np.testing.assert_allclose(answer.model_input, preprocess.to_model_input(image, 64, 1).numpy())
        assert answer.heatmap.shape == (64, 64)
        assert 0.0 <= answer.heatmap.min() and answer.heatmap.max() <= 1.0


def test_threshold_relabels_without_running_the_model(loaded):
    model, card = loaded
    (answer,) = predict_images(model, card, [noise((64, 64))])
    assert answer.heatmap is None
    low, high = answer.at(answer.probability - 0.01), answer.at(min(answer.probability + 0.01, 0.99))
    assert (low.label, high.label) == ("PNEUMONIA", "NORMAL")
    assert low.probability == answer.probability
    (given,) = predict_images(model, card, [noise((64, 64))], threshold=0.01)
    assert given.threshold == 0.01 and given.label == "PNEUMONIA"


@pytest.mark.parametrize("threshold", [1.5, -0.2, float("nan")])
def test_impossible_thresholds_are_refused(loaded, threshold):
    model, card = loaded
    with pytest.raises(ValueError, match="between 0 and 1"):
        predict_images(model, card, [noise((64, 64))], threshold=threshold)


def test_cause_models_score_pneumonia_as_not_normal():
    card = probe_card(threshold=None, task="cause", classes=("normal", "bacteria", "virus"))
    scores = predict.pneumonia_scores(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]), card)
    np.testing.assert_allclose(scores, [0.3, 0.9])
    assert predict.card_threshold(card) == 0.5


@pytest.mark.parametrize(
    ("probability", "threshold", "words"),
    [
        (0.99, 0.5, "very likely pneumonia"),
        (0.80, 0.5, "likely pneumonia"),
        (0.65, 0.5, "leans pneumonia"),
        (0.52, 0.5, "uncertain: close to the threshold"),
        (0.45, 0.5, "uncertain: close to the threshold"),
        (0.30, 0.5, "leans normal"),
        (0.02, 0.5, "very likely normal"),
        (0.50, 0.2, "leans pneumonia"),  # the room above a low threshold is larger
        (0.05, 0.2, "likely normal"),
    ],
)
def test_confidence_words_measure_the_distance_from_the_threshold(probability, threshold, words):
    assert confidence_phrase(probability, threshold) == words


# ----------------------------------------------------------------------------- pneumolab predict


def test_cli_predicts_good_files_and_reports_bad_ones(model_folder, films, tmp_path, capsys):
    xray = next((films / "test" / "PNEUMONIA").glob("*.jpeg"))
    broken = tmp_path / "broken.jpeg"
    broken.write_bytes(b"not an x-ray")
    code = cli.main(["predict", str(xray), str(broken), "--model", str(model_folder), "--json"])
    captured = capsys.readouterr()
    assert code == 1
    good, bad = json.loads(captured.out)
    assert set(good) == {"file", "probability", "label"} and good["file"] == str(xray)
    assert 0.0 <= good["probability"] <= 1.0 and good["label"] in ("NORMAL", "PNEUMONIA")
    assert set(bad) == {"file", "error"} and "not an image" in bad["error"]
    ours = [line for line in captured.err.splitlines() if line.startswith("pneumolab predict:")]
    assert ours == [f"pneumolab predict: {broken}: {bad['error']}"]
    assert "Traceback" not in captured.err


def test_cli_text_output_uses_the_model_from_the_environment(model_folder, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(models.MODEL_ENV, str(model_folder))
    image = tmp_path / "xray.png"
    image.write_bytes(png_bytes(noise((80, 80))))
    assert cli.main(["predict", str(image), "--threshold", "0.01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{image}: P(pneumonia) ") and "at threshold 0.0100 -> PNEUMONIA" in out


def test_cli_without_a_model_says_so_in_one_line(tmp_path, capsys):
    assert cli.main(["predict", "x.png", "--model", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "No trained model" in err and "Traceback" not in err


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_thresholds_at_the_ends_chosen_on_validation_still_predict(threshold):
    """choose_threshold may return 0 or 1 (e.g. when most validation scores saturate at 1.0)."""
    assert predict.card_threshold(probe_card(threshold=threshold)) == threshold
    for probability in (0.0, 0.5, 1.0):
        assert predict.confidence_phrase(probability, threshold)
