"""Fetch the real data for users with internet: the Kaggle collection or PneumoniaMNIST.

Downloads are atomic: a file is written beside its target as ``*.part``,
verified against its published checksum, and only then renamed into place;
an exported data set is built in a temporary folder and renamed at the end.
An interrupted or corrupted download never leaves a half-written data set.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from pneumolab import config

KAGGLE_HANDLE = "paultimothymooney/chest-xray-pneumonia"

#: Where MedMNIST publishes its files; a mirror can replace it for offline tests or local caches.
MEDMNIST_MIRROR_ENV = "PNEUMOLAB_MEDMNIST_MIRROR"
MEDMNIST_URL = "https://zenodo.org/records/10519652/files/"

#: PneumoniaMNIST files by image size, with the MD5 sums MedMNIST publishes.
MEDMNIST_FILES = {
    28: ("pneumoniamnist.npz", "28209eda62fecd6e6a2d98b1501bb15f"),
    64: ("pneumoniamnist_64.npz", "8f4eceb4ccffa70c672198ea285246c6"),
    128: ("pneumoniamnist_128.npz", "05b46931834c231683c68f40c47b2971"),
    224: ("pneumoniamnist_224.npz", "d6a3c71de1b945ea11211b03746c1fe1"),
}


class ChecksumError(RuntimeError):
    """A downloaded file is not the one that was published."""


def default_target() -> Path:
    """Where downloads go unless told otherwise: ``data/`` of the checkout."""
    return config.repository_root() / "data"


def fetch(url: str, target: Path, md5: str, *, chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``target`` and check its MD5; an existing good file is kept."""
    target = Path(target)
    if target.exists() and _md5(target) == md5:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
                while block := response.read(chunk):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != md5:
            raise ChecksumError(
                f"{url} has MD5 {digest.hexdigest()}, expected {md5}: "
                "the download is corrupt or not the published file; nothing was kept."
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_medmnist(size: int = 128, target: Path | None = None) -> Path:
    """Download PneumoniaMNIST at ``size`` (28, 64, 128 or 224) and export it as image folders.

    Returns ``target/pneumoniamnist_{size}``, laid out as the kit expects
    (``{train,val,test}/{NORMAL,PNEUMONIA}/*.png``). Its images have no patient
    ids, so each image is its own group in the validation split.
    """
    if size not in MEDMNIST_FILES:
        raise ValueError(f"PneumoniaMNIST comes in sizes {sorted(MEDMNIST_FILES)}, not {size}.")
    target = Path(target) if target else default_target()
    name, md5 = MEDMNIST_FILES[size]
    base = os.environ.get(MEDMNIST_MIRROR_ENV, MEDMNIST_URL)
    archive = fetch(f"{base.rstrip('/')}/{name}?download=1", target / name, md5)
    return export_npz(archive, target / f"pneumoniamnist_{size}")


def export_npz(archive: Path, out: Path) -> Path:
    """Write a MedMNIST ``.npz`` as PNG folders, atomically; an existing export is kept."""
    if out.exists():
        return out
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        with np.load(archive) as arrays:
            for split in config.SPLITS:
                images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"].ravel()
                for label in config.LABELS:
                    (staging / split / label).mkdir(parents=True)
                for i, (image, label) in enumerate(
                    tqdm(zip(images, labels, strict=True), total=len(labels), desc=split, unit="img")
                ):
                    folder = config.LABELS[int(label)]  # PneumoniaMNIST: 0 normal, 1 pneumonia
                    Image.fromarray(image).save(staging / split / folder / f"pmnist_{split}_{i:05d}.png")
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


class DownloadRefused(RuntimeError):
    """The data source answered but would not give the files; the message says what to do."""


#: What to tell a user when Kaggle refuses (it asks for sign-in or consent on some accounts and networks).
KAGGLE_HELP = (
    "To download with an account: sign in at kaggle.com, open "
    f"kaggle.com/datasets/{KAGGLE_HANDLE} and accept its terms if asked, create an API token "
    "(Settings > API > Create New Token), save it as ~/.kaggle/kaggle.json (or set KAGGLE_USERNAME "
    "and KAGGLE_KEY), and run `pneumolab download` again. Or copy a downloaded set from another "
    f"machine and point {config.DATA_ENV} at its folder (the one holding train/ and test/)."
)


def download_kaggle(target: Path | None = None) -> Path:
    """Download the Kaggle "Chest X-Ray Images (Pneumonia)" set with ``kagglehub``.

    The set is public, so no Kaggle account is needed when Kaggle allows
    anonymous downloads; when it refuses, :class:`DownloadRefused` says what to
    do. kagglehub shows a progress bar, keeps the files in its cache
    (``~/.cache/kagglehub``, or ``$KAGGLEHUB_CACHE``), resumes an interrupted
    archive and marks a version complete only after extracting it. Then
    ``target/chest_xray`` becomes a link to the folder holding ``train/`` and
    ``test/``, where the kit looks by default; the link is swapped in atomically.
    """
    import kagglehub
    import requests
    from kagglehub.exceptions import CredentialError, KaggleApiHTTPError, UnauthenticatedError

    try:
        downloaded = Path(kagglehub.dataset_download(KAGGLE_HANDLE))
    except (KaggleApiHTTPError, CredentialError, UnauthenticatedError) as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        why = f"Kaggle refused the download ({status})" if status else "Kaggle asked for credentials"
        raise DownloadRefused(f"{why}. {KAGGLE_HELP}") from error
    except requests.ConnectionError as error:
        raise DownloadRefused(
            "Could not reach Kaggle (no network?). Run `pneumolab download` again when online: "
            f"what was downloaded is kept and the download resumes. {KAGGLE_HELP}"
        ) from error
    root = locate_layout(downloaded)
    link = (Path(target) if target else default_target()) / "chest_xray"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():
        raise DownloadRefused(
            f"The full set is in {root}, but {link} already exists and is not a link made by "
            f"`pneumolab download`; leaving it alone. Point {config.DATA_ENV} at {root} to use the download."
        )
    staging = link.with_name(f".{link.name}.link")
    staging.unlink(missing_ok=True)
    staging.symlink_to(root, target_is_directory=True)
    os.replace(staging, link)
    return root


def locate_layout(folder: Path) -> Path:
    """The shallowest folder under ``folder`` with ``train/`` and ``test/`` class folders.

    The Kaggle archive nests a second copy (``chest_xray/chest_xray``) and a
    ``__MACOSX`` folder of resource forks; both are passed over.
    """
    candidates = sorted(
        (p.parent for p in Path(folder).rglob("train") if "__MACOSX" not in p.parts),
        key=lambda p: len(p.parts),
    )
    for candidate in candidates:
        if all((candidate / split / "NORMAL").is_dir() for split in ("train", "test")):
            return candidate
    raise FileNotFoundError(f"No train/ and test/ class folders found under {folder}.")
