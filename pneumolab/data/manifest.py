"""The data set as a table: one row per file, and an honest validation split.

The manifest is the single description of the data every other part of the kit
reads: which file, which split, which label, which patient. Bad files are kept
in it (with ``ok=False`` and the reason) so a student can see them, and every
consumer drops them in one place, :func:`usable`.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from pneumolab import config
from pneumolab.config import LABELS, SPLITS

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".mpo", ".dcm"})
#: Smallest shorter side (pixels) a JPEG is decoded at when the data set is checked: 1 lets libjpeg
#: decode at 1/8 scale, eight times fewer pixels each way, and still enough to see a blank film.
CHECK_DRAFT = 1

#: Class names of each learning task, in the order of the model's outputs: the one class vocabulary.
#: The yes/no classes are the label folders; the finest classes are also the manifest's ``cause`` words.
TASKS = {
    "binary": LABELS,
    "cause": ("normal", "bacteria", "virus"),
}

_PERSON = re.compile(r"^(person\d+)_(bacteria|virus)_", re.IGNORECASE)
_IM = re.compile(r"^((?:NORMAL2-)?IM-\d+)-", re.IGNORECASE)

DOWNLOAD_HINT = (
    "Get the full set with `pneumolab download` (or the small PneumoniaMNIST with "
    "`pneumolab download medmnist`), or point the environment variable "
    f"{config.DATA_ENV} at a folder laid out as train/ and test/, each with "
    "NORMAL/ and PNEUMONIA/ inside."
)


class DataWarning(UserWarning):
    """Files of the data set that cannot be used; the command line prints these as its own lines."""


class DataNotFoundError(FileNotFoundError):
    """No usable data set where we looked; the message says where and how to get one."""


def find_data_dir(data_dir: str | Path | None = None) -> Path:
    """Return the data set's root folder, or explain where we looked and how to get it."""
    places = [Path(data_dir).expanduser()] if data_dir is not None else config.candidate_data_dirs()
    for place in places:
        if config.has_layout(place):
            return place.resolve()
    looked = "\n  ".join(str(p) for p in places)
    problem = "has no train/ or test/ folder with NORMAL/ and PNEUMONIA/ inside"
    if len(places) == 1 and places[0].is_dir():
        raise DataNotFoundError(f"{places[0]} {problem}.\n{DOWNLOAD_HINT}")
    raise DataNotFoundError(f"No chest X-ray data set found. Looked in:\n  {looked}\n{DOWNLOAD_HINT}")


def describe_source(data_dir: str | Path | None = None) -> str:
    """One plain sentence on the data the kit will read: the full set, another folder, or the sample."""
    root = find_data_dir(data_dir)
    files = sum(path.suffix.lower() in IMAGE_SUFFIXES
                for split in SPLITS for label in LABELS for path in (root / split / label).glob("*"))
    if root == config.SAMPLE_DIR.resolve():
        return (f"Running on the {files}-image sample: results are for practice; "
                "`pneumolab download` gets the full set (in a notebook: `!pneumolab download`, "
                "then restart the kernel).")
    return f"Data: {files:,} image files in {root}."


def has_patient_ids(manifest: pd.DataFrame) -> bool:
    """True when every file name carries a patient id (Kermany names; PneumoniaMNIST exports have none)."""
    return bool(manifest["file"].map(lambda name: bool(_PERSON.match(name) or _IM.match(name))).all())


def has_causes(manifest: pd.DataFrame) -> bool:
    """True when every pneumonia file names its cause (bacteria or virus), as the three-class lesson needs."""
    pneumonia = manifest.loc[manifest["label"] == "PNEUMONIA", "cause"]
    return bool(len(pneumonia)) and bool(pneumonia.isin(TASKS["cause"]).all())


def parse_file_name(name: str) -> tuple[str, str]:
    """Patient id and cause (``bacteria``, ``virus`` or ``normal``) from a Kermany file name.

    ``person1481_bacteria_3862.jpeg`` is patient ``person1481``; normal images are
    ``IM-0115-0001.jpeg`` (patient ``IM-0115``) or ``NORMAL2-IM-1345-0001.jpeg``
    (patient ``NORMAL2-IM-1345``). Any other name is its own patient, cause unknown.
    """
    if match := _PERSON.match(name):
        return match.group(1).lower(), match.group(2).lower()
    if match := _IM.match(name):
        return match.group(1).upper(), "normal"
    return Path(name).stem, "unknown"


def build_manifest(data_dir: str | Path | None = None, *, check: bool = True) -> pd.DataFrame:
    """One row per file under ``{split}/{label}/`` of the data set.

    Columns: ``path, split, label, cause, patient, file, ok, problem``. With
    ``check=True`` every image is decoded once with the kit's one reader
    (:func:`pneumolab.data.reader.load_image`, JPEGs at reduced scale so originals
    stay fast) and the table also gets ``width, height, mode, md5``; files the
    reader refuses (corrupt, truncated, empty, not an image) and images that
    are not chest films (blank, tiny, a long strip) get ``ok=False`` and the
    reader's reason as ``problem``, and one :class:`DataWarning` lists them.
    With ``check=False`` only names and sizes are looked at.
    """
    root = find_data_dir(data_dir)
    rows = []
    for split in SPLITS:
        for label in LABELS:
            folder = root / split / label
            if not folder.is_dir():
                continue
            for path in sorted(p for p in folder.iterdir() if p.is_file()):
                patient, cause = parse_file_name(path.name)
                if label == "NORMAL":
                    cause = "normal"
                rows.append(
                    dict(path=str(path), split=split, label=label, cause=cause,
                         patient=patient, file=path.name)
                )
    if not rows:
        raise DataNotFoundError(f"{root} holds no files in its class folders.\n{DOWNLOAD_HINT}")
    frame = pd.DataFrame(rows)
    details = _inspect_all(frame["path"], decode=check)
    frame = pd.concat([frame, details], axis=1)
    _warn_bad_files(frame)
    return frame


def _inspect_all(paths: Iterable[str], *, decode: bool) -> pd.DataFrame:
    paths = list(paths)
    if decode:
        from pneumolab.progress import progress

        with ThreadPoolExecutor() as pool:
            found = list(progress(pool.map(_inspect, paths), total=len(paths),
                                  desc="Checking images", unit="img", leave=False))
    else:
        found = [_screen(Path(p)) for p in paths]
    return pd.DataFrame(found)


def _screen(path: Path) -> dict:
    """Problems visible from the name and size alone."""
    if path.name.startswith("."):
        return dict(ok=False, problem="hidden system file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return dict(ok=False, problem=f"not an image file ({path.suffix or 'no extension'})")
    if path.stat().st_size == 0:
        return dict(ok=False, problem="empty file")
    return dict(ok=True, problem="")


def _inspect(path_str: str) -> dict:
    """Read one file as training will (JPEGs at reduced scale): size, mode, checksum, whether it is usable."""
    from pneumolab.data.image import ImageError
    from pneumolab.data.reader import load_image

    path = Path(path_str)
    found = _screen(path) | dict(width=np.nan, height=np.nan, mode="", md5="")
    if found["problem"] in ("hidden system file", "empty file"):
        return found
    try:
        payload = path.read_bytes()
    except OSError as error:
        return found | dict(ok=False, problem=f"cannot be read ({error.strerror or error})")
    found["md5"] = hashlib.md5(payload).hexdigest()
    if not found["ok"]:
        return found
    try:
        image = load_image(payload, path.name, channels=1, draft=CHECK_DRAFT)
    except ImageError as error:
        return found | dict(ok=False, problem=str(error))
    found.update(width=image.size[0], height=image.size[1], mode=image.mode)
    if image.warnings:
        return found | dict(ok=False, problem="not a chest X-ray: " + " ".join(image.warnings))
    return found


def _warn_bad_files(frame: pd.DataFrame) -> None:
    """One :class:`DataWarning` naming the unusable files (the first ten) and why."""
    bad = frame.loc[~frame["ok"]]
    if bad.empty:
        return
    listing = "\n".join(f"  {row.path}: {row.problem}" for row in bad.head(10).itertuples())
    more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
    warnings.warn(DataWarning(f"{len(bad)} file(s) cannot be used and will be skipped:\n{listing}{more}"),
                  stacklevel=3)


def image_files(manifest: pd.DataFrame) -> pd.Series:
    """Rows naming an image file by its extension (readable or not), not a hidden or other file."""
    names = manifest["file"]
    return ~names.str.startswith(".") & names.map(lambda name: Path(name).suffix.lower() in IMAGE_SUFFIXES)


def usable(manifest: pd.DataFrame) -> pd.DataFrame:
    """The rows every pipeline may read: readable images only."""
    return manifest.loc[manifest["ok"]].reset_index(drop=True)


def class_of(manifest: pd.DataFrame) -> pd.Series:
    """The finest class of each row: ``normal``, ``bacteria``, ``virus`` (or ``unknown``)."""
    return manifest["cause"].where(manifest["label"] == "PNEUMONIA", "normal")


def n_outputs(task: str) -> int:
    """Output units of a model for ``task``: one sigmoid for yes/no, one softmax unit per class otherwise."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(TASKS)}.")
    return 1 if task == "binary" else len(TASKS[task])


def targets(manifest: pd.DataFrame, task: str = "binary") -> np.ndarray:
    """Integer class of each row for a learning task (see :data:`TASKS`)."""
    if task == "binary":
        return (manifest["label"] == "PNEUMONIA").to_numpy(dtype="int32")
    if task == "cause":
        names = class_of(manifest)
        unknown = ~names.isin(TASKS["cause"])
        if unknown.any():
            raise ValueError(
                f"{int(unknown.sum())} pneumonia file(s) do not name their cause "
                "(bacteria/virus); the 'cause' task needs Kermany file names."
            )
        return names.map({name: i for i, name in enumerate(TASKS["cause"])}).to_numpy("int32")
    raise ValueError(f"Unknown task {task!r}; choose one of {sorted(TASKS)}.")


def carve_validation(
    manifest: pd.DataFrame, val_fraction: float = 0.2, seed: int = config.SEED
) -> pd.DataFrame:
    """Move a patient-grouped, class-stratified part of ``train`` into ``val``.

    The official ``val`` folder (16 images) is too small to choose anything on,
    so it joins the pool first. No patient ends up on both sides, which an
    image-level random split would not guarantee: several X-rays of one child
    on both sides make validation scores optimistic. The split is the same for
    the same seed. The original folder stays in ``source_split``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if not 0 < val_fraction <= 0.5:
        raise ValueError(f"val_fraction must be in (0, 0.5] (one fold of round(1 / val_fraction)), "
                         f"got {val_fraction}.")
    result = manifest.copy()
    if "source_split" not in result:
        result["source_split"] = result["split"]
    pool = result.index[result["source_split"].isin(["train", "val"])]
    if len(pool) == 0:
        raise ValueError("The manifest has no training images to carve a validation split from.")
    folds = StratifiedGroupKFold(
        n_splits=max(2, round(1 / val_fraction)), shuffle=True, random_state=seed
    )
    strata = class_of(result.loc[pool])
    groups = leakage_groups(result.loc[pool])
    _, val_positions = next(folds.split(pool, strata, groups=groups))
    result.loc[pool, "split"] = "train"
    result.loc[pool[val_positions], "split"] = "val"
    return result


def leakage_groups(manifest: pd.DataFrame) -> pd.Series:
    """Patient ids, with patients that share an identical file merged into one group.

    Splitting by these groups keeps every patient, and every copy of an image,
    on one side only.
    """
    groups = manifest["patient"].copy()
    if "md5" not in manifest:
        return groups
    hashed = manifest.loc[manifest["md5"].astype(bool)]
    for rows in hashed.groupby("md5").groups.values():
        linked = groups.loc[rows].unique()  # current groups, so chains of shared files merge too
        if len(linked) > 1:
            groups[groups.isin(linked)] = linked[0]
    return groups


def stratified_subset(
    manifest: pd.DataFrame, per_class: int, seed: int = config.SEED
) -> pd.DataFrame:
    """At most ``per_class`` rows of each (split, class): a small, balanced slice for quick runs."""
    shuffled = manifest.sample(frac=1, random_state=seed)
    strata = shuffled["split"] + "/" + class_of(shuffled)
    return shuffled.groupby(strata).head(per_class).sort_index()


def duplicate_groups(manifest: pd.DataFrame) -> pd.DataFrame:
    """Files whose bytes are identical, one row per file, with a ``group`` number."""
    if "md5" not in manifest or not manifest["md5"].astype(bool).any():
        raise ValueError("The manifest has no checksums: build it with check=True.")
    hashed = manifest.loc[manifest["md5"].astype(bool)]
    dupes = hashed[hashed.duplicated("md5", keep=False)].copy()
    dupes["group"] = dupes.groupby("md5").ngroup()
    return dupes.sort_values(["group", "path"])


def summarize(manifest: pd.DataFrame) -> dict:
    """Counts a teacher checks first: files per split and class, patients, causes, duplicates."""
    good = usable(manifest)
    good = good.assign(split=pd.Categorical(good["split"], categories=SPLITS, ordered=True))
    per_label = pd.crosstab(good["split"], good["label"]).reindex(columns=LABELS, fill_value=0)
    splits = {str(split): {k: int(v) for k, v in row.items()} for split, row in per_label.iterrows()}
    by_split = [(str(split), group) for split, group in good.groupby("split", observed=True)]
    summary = dict(
        splits=splits,
        patients={split: int(g["patient"].nunique()) for split, g in by_split},
        causes={split: {k: int(v) for k, v in g["cause"].value_counts().items()} for split, g in by_split},
        bad_files=[dict(path=r.path, problem=r.problem) for r in manifest.loc[~manifest["ok"]].itertuples()],
    )
    if "md5" in manifest and manifest["md5"].astype(bool).any():
        dupes = duplicate_groups(good)
        summary["duplicates"] = dict(
            groups=int(dupes["group"].nunique()),
            files=len(dupes),
            across_splits=int((dupes.groupby("group")["split"].nunique() > 1).sum()),
            across_patients=int((dupes.groupby("group")["patient"].nunique() > 1).sum()),
        )
    by_patient = good.groupby("patient")["split"].nunique()
    summary["patients_in_several_splits"] = int((by_patient > 1).sum())
    return summary
