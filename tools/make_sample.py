"""Choose and write the embedded sample (``pneumolab/sample/``) from the full data set.

Run from the checkout: ``python tools/make_sample.py ../shared/data/chest_xray_224``.
The choice is seeded, so the same source gives the same files; it keeps the
original file names (so patients, causes and duplicates still mean something),
and stores each image as 224 px grayscale JPEG so the whole sample stays under
3 MB. Train: 60 normal, 30 bacterial, 30 viral films, including one pair of
byte-identical files and one patient with several films. Test: 30 normal, 15
bacterial, 15 viral.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from pneumolab.data import manifest as data

SEED = 2018
#: Films per (split, class) in the sample.
COUNTS = {
    "train": {"normal": 60, "bacteria": 30, "virus": 30},
    "test": {"normal": 30, "bacteria": 15, "virus": 15},
}
SIZE = 224
QUALITY = 85
OUT = Path(__file__).resolve().parents[1] / "pneumolab" / "sample"


def _class(path: Path) -> str:
    patient, cause = data.parse_file_name(path.name)
    return "normal" if path.parent.name == "NORMAL" else cause


def choose(source: Path, rng: np.random.Generator) -> dict[str, list[Path]]:
    """The chosen files per split: a seeded draw, plus a duplicate pair and a multi-film patient in train."""
    chosen: dict[str, list[Path]] = {}
    for split, counts in COUNTS.items():
        files = sorted((source / split).glob("*/*.jpeg"))
        picked: list[Path] = []
        if split == "train":
            picked += _duplicate_pair(files) + _patient_with_films(files, rng, films=3)
        for name, count in counts.items():
            pool = [f for f in files if _class(f) == name and f not in picked]
            still = count - sum(_class(f) == name for f in picked)
            picked += [pool[i] for i in sorted(rng.choice(len(pool), still, replace=False))]
        chosen[split] = sorted(picked)
    return chosen


def _duplicate_pair(files: list[Path]) -> list[Path]:
    """The first two byte-identical pneumonia files (in name order)."""
    seen: dict[str, Path] = {}
    for path in files:
        if path.parent.name != "PNEUMONIA":
            continue
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        if digest in seen:
            return [seen[digest], path]
        seen[digest] = path
    raise SystemExit("no duplicate pair found in train/PNEUMONIA")


def _patient_with_films(files: list[Path], rng: np.random.Generator, films: int) -> list[Path]:
    """All films of one bacterial-pneumonia patient who has exactly ``films`` of them."""
    by_patient: dict[str, list[Path]] = {}
    for path in files:
        if _class(path) == "bacteria":
            by_patient.setdefault(data.parse_file_name(path.name)[0], []).append(path)
    candidates = sorted(p for p, paths in by_patient.items() if len(paths) == films)
    return by_patient[candidates[rng.integers(len(candidates))]]


def write(chosen: dict[str, list[Path]], out: Path) -> int:
    """Write the chosen files as gray JPEG under ``out/{split}/{label}/``; return the bytes written."""
    for split in chosen:
        shutil.rmtree(out / split, ignore_errors=True)
    total = 0
    for split, paths in chosen.items():
        for path in paths:
            target = out / split / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as image:
                image.convert("L").resize((SIZE, SIZE)).save(target, quality=QUALITY)
            total += target.stat().st_size
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the full data set (train/ and test/ with class folders)")
    args = parser.parse_args(argv)
    chosen = choose(args.source, np.random.default_rng(SEED))
    total = write(chosen, OUT)
    counts = {split: len(paths) for split, paths in chosen.items()}
    print(f"wrote {sum(counts.values())} images ({counts}), {total / 1e6:.2f} MB, to {OUT}")
    return 0 if total <= 3e6 else 1


if __name__ == "__main__":
    sys.exit(main())
