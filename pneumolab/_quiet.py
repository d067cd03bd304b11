"""TensorFlow's C++ start-up lines kept off the screen, whoever imports TensorFlow after ``pneumolab``.

While ``import tensorflow`` runs, TensorFlow 2.21's C++ code writes absl and
oneDNN lines ("All log messages before absl::InitializeLog() is called...",
"This TensorFlow binary is optimized to use available CPU instructions...")
straight to file descriptor 2, past Python's ``sys.stderr``.
``TF_CPP_MIN_LOG_LEVEL`` does not stop them, and ``TF_ENABLE_ONEDNN_OPTS=0``
does but makes the CPU about a third slower. So ``import pneumolab`` installs
an import hook: the first import of ``tensorflow`` (by the kit, by Keras, by
a notebook) runs with descriptor 2 pointed at a temporary file, and
afterwards every line that is not one of those start-up lines is written
back to stderr, so a genuine error still shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from types import ModuleType

#: What TensorFlow prints while it loads, and nothing else: absl's notice, C++ INFO/WARNING log lines
#: ("I0000 00:00:17.96 5296 cpu_feature_guard.cc:227] ..."), the CPU-instructions hint, GPU-less
#: "Unable to register" errors, the oneDNN notice.
STARTUP_LINE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+\s+\d+ [\w/.-]+:\d+\] .*"
    r"|E\d{4} [\d:.]+\s+\d+ [\w/.-]+:\d+\] Unable to register .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    r"|.*oneDNN custom operations are on\..*"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."  # LiteRT, at its first allocation
)


def hide_tensorflow_startup_lines() -> None:
    """Make the first ``import tensorflow`` quiet (does nothing if TensorFlow is already loaded)."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFirstImport())


@contextlib.contextmanager
def startup_lines_hidden() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; then pass on every line but TensorFlow's start-up lines."""
    import tempfile  # here, not at the top: ``import pneumolab`` stays light
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all (some GUI launchers): nothing to hide
        yield
        return
    _flush(sys.stderr)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            _flush(sys.stderr)
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not STARTUP_LINE.fullmatch(line.rstrip("\r\n")))
            if kept:
                sys.stderr.write(kept)
                _flush(sys.stderr)


def _flush(stream) -> None:
    with contextlib.suppress(Exception):  # a closed or replaced stream has nothing to flush
        stream.flush()


class _QuietFirstImport:
    """Finds ``tensorflow`` with the other finders, once, and wraps its loader in the redirect."""

    def find_spec(self, fullname: str, path, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; later ones find TensorFlow in sys.modules anyway
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


class _QuietLoader:
    """Runs the real loader with descriptor 2 caught; the module keeps the real loader."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        with startup_lines_hidden():
            self.loader.exec_module(module)

    def __getattr__(self, name: str):
        return getattr(self.loader, name)
