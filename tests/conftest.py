"""Shared fixtures: the real data set from ../shared, and small data sets the tests make."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pneumolab import config

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray_224"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keras, matplotlib and Jupyter write under $HOME: give each test session its own."""
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PNEUMOLAB_CACHE", str(home / "pneumolab-cache"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The shared Kermany data (224 px copy); CI always has it."""
    path = Path(os.environ.get("PNEUMOLAB_DATA", SHARED_DATA))
    if not (path / "train").is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="session")
def films() -> Path:
    """Real chest films laid out as ``test/{NORMAL,PNEUMONIA}/``: the full set's when present, else the
    embedded sample's, so tests that need a real X-ray (not the full set's counts) run on every machine."""
    path = Path(os.environ.get("PNEUMOLAB_DATA", SHARED_DATA))
    return path if (path / "test").is_dir() else config.SAMPLE_DIR


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def noise(shape, dtype=np.uint8, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)


@pytest.fixture
def scores() -> tuple[np.ndarray, np.ndarray]:
    """300 seeded labels and overlapping probabilities: an imperfect classifier to draw and slide over."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    return y, 1 / (1 + np.exp(-rng.normal(2 * y - 1, 1.2)))


@pytest.fixture
def messy_data(tmp_path) -> Path:
    """A Kermany-shaped folder of originals in mixed sizes and modes, plus broken files."""
    root = tmp_path / "chest_xray"
    files = {
        "train/NORMAL/IM-0001-0001.jpeg": jpeg_bytes(noise((600, 450))),               # gray
        "train/NORMAL/IM-0001-0002.jpeg": jpeg_bytes(noise((1200, 900), seed=1)),      # gray, large
        "train/NORMAL/NORMAL2-IM-0002-0001.png": png_bytes(noise((333, 500, 3), seed=2)),  # RGB
        "train/NORMAL/IM-0003-0001.png": png_bytes(noise((256, 300), np.uint16, seed=3)),  # 16-bit
        "train/PNEUMONIA/person1_bacteria_1.jpeg": jpeg_bytes(noise((400, 700, 3), seed=4)),
        "train/PNEUMONIA/person1_virus_2.png": png_bytes(noise((500, 420, 4), seed=5)),  # RGBA
        "train/PNEUMONIA/person2_bacteria_3.jpeg": jpeg_bytes(noise((64, 64), seed=6)),
        "test/NORMAL/IM-0100-0001.jpeg": jpeg_bytes(noise((300, 300), seed=7)),
        "test/PNEUMONIA/person9_virus_9.jpeg": jpeg_bytes(noise((300, 310), seed=8)),
        # the broken ones
        "train/NORMAL/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "train/NORMAL/IM-0004-0001.jpeg": b"",                                          # empty
        "train/PNEUMONIA/person3_bacteria_4.jpeg": b"this is not an image at all",
        "train/PNEUMONIA/person4_virus_5.jpeg": jpeg_bytes(noise((300, 300), seed=9))[:1500],  # truncated
        "train/PNEUMONIA/notes.txt": b"a student's notes",
    }
    for name, payload in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
    return root


def synthetic_xray(pneumonia: bool, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A gray image a model can learn: pneumonia images carry a bright blob in the left half."""
    image = rng.normal(90, 20, (size, size))
    if pneumonia:
        row, col = rng.integers(size // 4, 3 * size // 4), rng.integers(size // 8, size // 2 - 4)
        yy, xx = np.mgrid[:size, :size]
        image += 120 * np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / (2 * (size / 10) ** 2))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_xrays(tmp_path_factory) -> Path:
    """A small Kermany-shaped data set with a learnable signal: 60 train and 20 test images."""
    root = tmp_path_factory.mktemp("tiny") / "chest_xray"
    rng = np.random.default_rng(42)
    for split, n in (("train", 30), ("test", 10)):
        offset = 0 if split == "train" else 500
        for i in range(n):
            normal = root / split / "NORMAL" / f"IM-{offset + i:04d}-0001.png"
            cause = "bacteria" if i % 2 else "virus"
            sick = root / split / "PNEUMONIA" / f"person{offset + i}_{cause}_{i}.png"
            for path, pneumonia in ((normal, False), (sick, True)):
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(synthetic_xray(pneumonia, rng)).save(path)
    return root
