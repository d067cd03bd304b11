"""Every kind of file a class throws at the kit (issue 13), through the one reader and its three users:
``pneumolab predict``, the panel's upload handler, and the data loader (manifest + ``tf.data`` pipeline).

Each kind is a generated file with the picture it should give (``expected``, upright gray, 0-255), the
note the reader must add, the warning it must show beside an answer, or the error it must give instead.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from pneumolab import cli
from pneumolab.data import manifest as data
from pneumolab.data import reader
from pneumolab.data.image import ImageError
from pneumolab.data.reader import load_image
from pneumolab.preprocess import transforms as preprocess
from pneumolab.preprocess.pipeline import make_dataset
from tests.conftest import jpeg_bytes, png_bytes
from tests.test_predict import dicom_bytes, png_header, save_test_model


def film(height: int = 96, width: int = 80) -> np.ndarray:
    """A gray picture whose orientation shows: a gradient with a bright block in the top-left corner."""
    rows, columns = np.mgrid[:height, :width]
    image = 40 + 100 * rows / height + 60 * columns / width
    image[: height // 4, : width // 4] = 250
    return np.round(image).astype(np.uint8)


def encoded(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **options)
    return buffer.getvalue()


def oriented_jpeg(orientation: int) -> bytes:
    """A JPEG stored turned, with the EXIF tag that tells a viewer how to turn it upright (as phones do)."""
    stored = {3: np.rot90(film(), 2), 6: np.rot90(film(), 1), 8: np.rot90(film(), -1)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(Image.fromarray(np.ascontiguousarray(stored)), format="JPEG", quality=95, exif=exif)


def bare_dicom(implicit: bool) -> bytes:
    """A DICOM data set written without preamble, 'DICM' marker or file meta (as some exports do)."""
    dataset = pydicom.dcmread(io.BytesIO(dicom_bytes(film().astype(np.uint16) * 16)))
    stream = DicomBytesIO()
    stream.is_little_endian, stream.is_implicit_VR = True, implicit
    write_dataset(stream, dataset)
    return stream.getvalue()


@dataclass(frozen=True)
class Kind:
    """One row of the issue's table: a file, and what reading it must give."""

    name: str
    content: bytes
    expected: np.ndarray | None = None  # the picture, upright gray, when it is readable
    tolerance: float = 0.0  # mean absolute difference allowed (JPEG is lossy)
    note: str = ""  # a phrase of the note the reader adds
    warning: str = ""  # a phrase of the warning shown beside the answer
    error: str = ""  # a phrase of the refusal


def kinds() -> list[Kind]:
    twelve_bit = film().astype(np.uint16) * 16  # 0-4095 values in a 16-bit PNG, as DICOM exports write
    dicom = dicom_bytes(twelve_bit)
    frames = [Image.fromarray(film()), Image.fromarray(255 - film())]
    plain = film().astype(float)
    stretched = np.round((plain - plain.min()) * 255 / (plain.max() - plain.min()))  # DICOM without a window
    return [
        *(Kind(f"phone_orientation_{o}.jpeg", oriented_jpeg(o), film(), 2.0, note="orientation tag")
          for o in (3, 6, 8)),
        Kind("cmyk.jpeg", encoded(Image.fromarray(film()).convert("CMYK"), format="JPEG", quality=95),
             film(), 3.0, note="CMYK"),
        Kind("twelve_bit.png", png_bytes(twelve_bit), film(), 0.5, note="only 12 bits"),
        Kind("camera.mpo", encoded(frames[0], format="MPO", quality=95, save_all=True,
                                   append_images=frames[1:]), film(), 2.0, note="2 pictures"),
        Kind("no_preamble.dcm", dicom[128:], stretched, 0.5, note="preamble"),
        Kind("no_marker.dcm", dicom[132:], stretched, 0.5, note="preamble and 'DICM' marker"),
        Kind("bare_explicit.dcm", bare_dicom(implicit=False), stretched, 0.5, note="bare data set"),
        Kind("bare_implicit.dcm", bare_dicom(implicit=True), stretched, 0.5, note="bare data set"),
        Kind("one_pixel.png", png_bytes(np.full((1, 1), 200, np.uint8)), warning="too small"),
        Kind("all_black.png", png_bytes(np.zeros((300, 260), np.uint8)), warning="blank"),
        Kind("strip.png", png_bytes(np.tile(film(30, 600)[:1], (30, 1))), warning="times longer than wide"),
        Kind("bomb.png", png_header(100_000, 100_000), error="far too large to be a chest X-ray"),
        Kind("not_dicom.dcm", b"\x08\x00" + bytes(200), error="no Rows, Columns and PixelData"),
    ]


KINDS = {kind.name: kind for kind in kinds()}
READABLE = [name for name, kind in KINDS.items() if not kind.error]
PICTURES = [name for name, kind in KINDS.items() if kind.expected is not None]


# ----------------------------------------------------------------------------- the reader


@pytest.mark.parametrize("name", PICTURES)
def test_the_reader_gives_the_upright_gray_picture_and_says_what_it_did(name):
    kind = KINDS[name]
    image = load_image(kind.content, name, channels=1)
    assert image.pixels.shape == (*kind.expected.shape, 1)
    assert np.abs(image.pixels[..., 0].astype(float) - kind.expected).mean() <= kind.tolerance
    assert any(kind.note in note for note in image.notes), image.notes
    assert image.size == (kind.expected.shape[1], kind.expected.shape[0]) and image.warnings == ()


@pytest.mark.parametrize("name", [n for n, k in KINDS.items() if k.warning])
def test_images_unlike_a_chest_film_are_read_with_a_warning(name):
    image = load_image(KINDS[name].content, name)
    assert any(KINDS[name].warning in warning for warning in image.warnings), image.warnings


@pytest.mark.parametrize("name", [n for n, k in KINDS.items() if k.error])
def test_refusals_are_in_the_kits_own_words(name):
    with pytest.raises(ImageError, match=re.escape(KINDS[name].error)) as refused:
        load_image(KINDS[name].content, name)
    assert "decompression bomb" not in str(refused.value) and "DOS" not in str(refused.value)


def test_a_dcm_file_that_is_no_dicom_says_what_is_missing():
    with pytest.raises(ImageError, match="no 'DICM' marker"):
        load_image(b"just some text", "scan.dcm")


def test_dicom_file_meta_without_preamble_is_read_whatever_the_files_name():
    content = KINDS["no_marker.dcm"].content
    assert content.startswith(b"\x02\x00\x00\x00UL")
    np.testing.assert_array_equal(load_image(content, "export.bin").pixels,
                                  load_image(content, "no_marker.dcm").pixels)


def test_16_bit_files_using_all_16_bits_are_not_rescaled():
    full = (film().astype(np.uint16) * 257)
    image = load_image(png_bytes(full))
    np.testing.assert_array_equal(image.pixels[..., 0], film())
    assert image.notes == ()


def test_a_draft_read_keeps_the_files_size_and_verdicts():
    big = np.kron(film(), np.ones((8, 8), np.uint8))  # 768 x 640
    exif = Image.Exif()
    exif[0x0112] = 6
    content = encoded(Image.fromarray(big), format="JPEG", exif=exif)
    drafted = load_image(content, draft=32)
    assert drafted.size == (768, 640) and min(drafted.pixels.shape[:2]) >= 32
    assert drafted.pixels.shape[0] < drafted.pixels.shape[1]  # turned upright too
    assert load_image(jpeg_bytes(np.zeros((400, 400), np.uint8)), draft=32).warnings


def test_the_reader_does_not_need_tensorflow():
    import subprocess
    import sys

    code = ("import sys, numpy; from pneumolab.data import reader; "
            "reader.read_image(open(sys.argv[1], 'rb').read()); print('tensorflow' in sys.modules)")
    path = Path(__file__).parent / "_kind_probe.png"
    try:
        path.write_bytes(png_bytes(film()))
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                             check=True)
    finally:
        path.unlink(missing_ok=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- pneumolab predict


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return save_test_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def kind_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kinds")
    for kind in KINDS.values():
        (folder / kind.name).write_bytes(kind.content)
    (folder / "good.png").write_bytes(png_bytes(film()))
    return {path.name: path for path in folder.iterdir()}


@pytest.mark.parametrize("name", list(KINDS))
def test_cli_answers_or_refuses_each_kind_between_two_good_files(name, kind_files, model_folder, capsys):
    kind, good = KINDS[name], str(kind_files["good.png"])
    code = cli.main(["predict", good, str(kind_files[name]), good, "--model", str(model_folder), "--json"])
    captured = capsys.readouterr()
    first, entry, last = json.loads(captured.out)
    assert "probability" in first and "probability" in last and first["probability"] == last["probability"]
    assert "Traceback" not in captured.err
    if kind.error:
        assert code == 1 and kind.error in entry["error"]
        return
    assert code == 0 and 0.0 <= entry["probability"] <= 1.0
    if kind.warning:
        assert any(kind.warning in warning for warning in entry["warnings"])
    else:
        assert "warnings" not in entry
        assert f"pneumolab predict: {kind_files[name]}: " in captured.err and kind.note in captured.err


def test_cli_text_output_puts_the_warning_under_the_answer(kind_files, model_folder, capsys):
    assert cli.main(["predict", str(kind_files["all_black.png"]), "--model", str(model_folder)]) == 0
    answer, warning = capsys.readouterr().out.strip().splitlines()
    assert answer.startswith(f"{kind_files['all_black.png']}: P(pneumonia) ")
    assert warning.startswith(f"  warning: {reader.NOT_A_FILM}: The image is blank")


# ----------------------------------------------------------------------------- the panel's upload handler


@pytest.fixture(scope="module")
def page(model_folder):
    from pneumolab import models
    from pneumolab.widgets import panel

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(models.MODEL_ENV, str(model_folder))
        yield panel.build_panel()


@pytest.mark.parametrize("name", list(KINDS))
def test_the_panel_answers_or_refuses_each_kind_between_two_good_files(name, page):
    from tests.test_panel import results, text, upload

    kind, good = KINDS[name], png_bytes(film())
    uploader = upload(page, ("good.png", good), (name, kind.content), ("again.png", good))
    first, card, last = results(page)
    assert "P(pneumonia)" in text(first) and "P(pneumonia)" in text(last)
    shown = text(card)
    assert name in shown and uploader.value == ()
    if kind.error:
        assert "pl-error" in shown and kind.error in shown and "P(pneumonia)" not in shown
        return
    assert "P(pneumonia)" in shown
    if kind.warning:
        assert f"Warning: {reader.NOT_A_FILM}: " in shown and kind.warning in shown
    else:
        assert "pl-warning" not in shown and html.escape(kind.note) in shown
    if kind.expected is not None:  # the picture shown as uploaded is the upright one
        height, width = kind.expected.shape
        assert re.search(rf"As uploaded \(\w+, {width}×{height}\)", shown)


# ----------------------------------------------------------------------------- the data loader


@pytest.fixture(scope="module")
def kinds_data_set(tmp_path_factory) -> Path:
    """A Kermany-shaped folder holding every kind in train, beside ordinary films."""
    root = tmp_path_factory.mktemp("kinds_data") / "chest_xray"
    for split in ("train", "test"):
        for label in ("NORMAL", "PNEUMONIA"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(2):
                (folder / f"IM-{i:04d}-0001.png").write_bytes(png_bytes(film()))
    for kind in KINDS.values():
        (root / "train" / "NORMAL" / kind.name).write_bytes(kind.content)
    return root


@pytest.fixture(scope="module")
def kinds_manifest(kinds_data_set):
    with pytest.warns(data.DataWarning) as caught:
        manifest = data.build_manifest(kinds_data_set)
    return manifest, " ".join(str(w.message) for w in caught)


def test_the_manifest_accepts_what_the_reader_reads_and_refuses_the_rest_by_name(kinds_manifest):
    manifest, warned = kinds_manifest
    for name, kind in KINDS.items():
        rows = manifest.loc[manifest["file"] == name]
        assert len(rows) == 1, name
        if kind.expected is not None:
            assert rows["ok"].all(), rows["problem"].tolist()
            assert set(rows["width"]) == {kind.expected.shape[1]}  # upright size
        else:
            assert not rows["ok"].any(), name
            phrase = kind.error or kind.warning
            assert rows["problem"].str.contains(phrase, regex=False).all(), rows["problem"].tolist()
            assert name in warned


@pytest.mark.parametrize("channels", [1, 3])
def test_the_pipeline_feeds_training_the_pixels_prediction_sees(kinds_manifest, channels):
    manifest, _ = kinds_manifest
    rows = data.usable(manifest.loc[manifest["split"] == "train"])
    batches = list(make_dataset(rows, image_size=64, channels=channels, batch_size=8))
    images = np.concatenate([x.numpy() for x, _ in batches])
    assert len(images) == len(rows)
    for image, path in zip(images, rows["path"], strict=True):
        content = Path(path).read_bytes()
        expected = preprocess.to_model_input(load_image(content, path, channels).pixels, 64, channels).numpy()
        np.testing.assert_allclose(image, expected, atol=1e-4)
    cmyk = rows.index[rows["file"] == "cmyk.jpeg"][0]
    upright = preprocess.to_model_input(film()[..., None], 64, channels).numpy()
    assert np.abs(images[cmyk] - upright).mean() < 4


def test_a_file_deleted_after_the_check_is_named_once_and_skipped(kinds_manifest, tmp_path):
    manifest, _ = kinds_manifest
    rows = data.usable(manifest.loc[manifest["split"] == "train"]).copy()
    gone = tmp_path / "IM-9999-0001.png"
    rows.loc[0, "path"] = str(gone)  # the manifest says it is there; it is not
    from pneumolab.preprocess.pipeline import Skipped

    skipped = Skipped()
    with pytest.warns(data.DataWarning, match=re.escape(f"{gone} could not be read")) as caught:
        images = [x for x, _ in make_dataset(rows, image_size=32, skipped=skipped)]
    assert sum(len(x) for x in images) == len(rows) - 1
    assert skipped.reasons == {str(gone): "the file is gone (deleted or moved after the data check)"}
    assert len([w for w in caught if str(gone) in str(w.message)]) == 1
