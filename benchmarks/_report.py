"""Shared by the benchmark scripts: the machine they ran on, a printed table, a JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """Facts that make a timing comparable: cores, CPU, Python, library versions, and the code measured."""
    import keras
    import tensorflow as tf

    return dict(
        cores=os.cpu_count(), cpu=platform.processor() or platform.machine(),
        python=platform.python_version(), tensorflow=tf.__version__, keras=keras.__version__,
        date=time.strftime("%Y-%m-%d"), commit=_commit(),
    )


def _commit() -> str:
    """The checkout's commit, marked ``+changes`` when the package differs from it; ``""`` outside git."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=RESULTS.parent, capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return ""
    changed = git("status", "--porcelain", "--", "../pneumolab", "../notebooks").stdout.strip()
    return head.stdout.strip() + ("+changes" if changed else "")


def report(name: str, rows: list[dict], **extra) -> Path:
    """Print ``rows`` as an aligned table and write them, with the machine, to results/NAME.json."""
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.rjust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_fmt(row[c]).rjust(widths[c]) for c in columns))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(dict(machine=machine(), rows=rows, **extra), indent=2) + "\n")
    print(f"written: {out}")
    return out


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
