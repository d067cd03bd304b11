"""Where things live and how big a run is.

Every setting comes from an environment variable with a sensible default, so a
notebook, the CLI, the tests and CI all agree without passing paths around.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "PNEUMOLAB_DATA"
QUICK_ENV = "PNEUMOLAB_QUICK"
CACHE_ENV = "PNEUMOLAB_CACHE"
RUNS_ENV = "PNEUMOLAB_RUNS"
#: How a served model runs (the panel's kernels read it): one of ``RUNTIMES``.
RUNTIME_ENV = "PNEUMOLAB_RUNTIME"
#: LiteRT (the default: no TensorFlow, ~0.2 GB) or Keras (~0.9 GB); see :mod:`pneumolab.inference.runtime`.
RUNTIMES = ("lite", "keras")

#: Relative location of the data set inside a checkout or the working directory.
DEFAULT_DATA_SUBDIR = Path("data") / "chest_xray"

#: The embedded sample (180 films of the real set) that ships in the package: the last place looked.
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"

#: A data set is a folder holding ``{split}/{label}/`` image folders.
SPLITS = ("train", "val", "test")
#: The label folders, which are also the yes/no task's classes (``TASKS["binary"]`` of the manifest).
LABELS = ("NORMAL", "PNEUMONIA")

#: The seed used for every split and shuffle unless the caller gives another.
SEED = 1234

_TRUE = {"1", "true", "yes", "on"}


def quick_mode() -> bool:
    """True for small, fast runs (CI, a first try).

    ``PNEUMOLAB_QUICK`` decides when it is set; otherwise quick mode is on exactly
    when the kit runs on the embedded sample, where a full run would teach nothing more.
    """
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value:
        return value in _TRUE
    return using_sample()


def repository_root() -> Path:
    """The folder holding the ``pneumolab`` package (the checkout, for an editable install)."""
    return Path(__file__).resolve().parent.parent


def candidate_data_dirs() -> list[Path]:
    """Folders searched for the data set, in order of preference.

    ``$PNEUMOLAB_DATA`` alone when it is set (a wrong setting is an error, not a
    reason to fall back); otherwise ``data/chest_xray/`` of the working directory,
    its parents and the checkout, then the embedded sample.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return [Path(env).expanduser()]
    here = Path.cwd().resolve()
    places = [p / DEFAULT_DATA_SUBDIR for p in (here, *here.parents)]
    places += [repository_root() / DEFAULT_DATA_SUBDIR, SAMPLE_DIR]
    return list(dict.fromkeys(places))


def has_layout(root: Path) -> bool:
    """True when ``root`` holds at least one ``{split}/{label}/`` folder."""
    return any((root / split / label).is_dir() for split in SPLITS for label in LABELS)


def data_root() -> Path | None:
    """The first folder of :func:`candidate_data_dirs` that holds a data set, or None."""
    return next((place.resolve() for place in candidate_data_dirs() if has_layout(place)), None)


def using_sample() -> bool:
    """True when no data set was found but the embedded sample."""
    return data_root() == SAMPLE_DIR.resolve()


def runs_dir() -> Path:
    """Where the notebooks keep the models they train (``runs/`` of the checkout; not committed)."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser() if env else repository_root() / "runs"


def cache_dir() -> Path:
    """A writable folder for converted weights and cached features."""
    env = os.environ.get(CACHE_ENV)
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "pneumolab"
    base.mkdir(parents=True, exist_ok=True)
    return base
