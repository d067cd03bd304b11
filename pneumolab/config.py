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

#: Relative location of the data set inside a checkout or the working directory.
DEFAULT_DATA_SUBDIR = Path("data") / "chest_xray"

#: The seed used for every split and shuffle unless the caller gives another.
SEED = 1234

_TRUE = {"1", "true", "yes", "on"}


def quick_mode() -> bool:
    """True when ``PNEUMOLAB_QUICK`` asks for small, fast runs (CI, a first try)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in _TRUE


def repository_root() -> Path:
    """The folder holding the ``pneumolab`` package (the checkout, for an editable install)."""
    return Path(__file__).resolve().parent.parent


def candidate_data_dirs() -> list[Path]:
    """Folders searched for the data set, in order of preference."""
    env = os.environ.get(DATA_ENV)
    if env:
        return [Path(env).expanduser()]
    here = Path.cwd().resolve()
    places = [p / DEFAULT_DATA_SUBDIR for p in (here, *here.parents)]
    places.append(repository_root() / DEFAULT_DATA_SUBDIR)
    return list(dict.fromkeys(places))


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
