"""Serving the panel to a class: Voila's settings, its limits, and a clean start and stop.

``pneumolab panel`` runs :func:`serve`, which never imports TensorFlow. It

- refuses a busy port with a clear message (Voila would silently move to another);
- starts Voila with kernels pre-heated (a pool of kernels that have already run
  the panel notebook, so a page renders in seconds), idle kernels of closed
  pages culled (Voila's kernel manager spares the pool's waiting kernels),
  kernels reached over Unix sockets (TCP ports collide when a class's kernels start together),
  and the websocket limit matched to the largest upload a page accepts (the
  page itself refuses larger picks before sending them);
- lets at most ``max_pages`` pages hold a model at once: each panel kernel
  claims one of ``max_pages`` slot files (an OS lock, released when the kernel
  ends, however it ends); a page beyond the limit says the class is full and
  offers to try again;
- on Ctrl-C or SIGTERM stops Voila, waits for it to shut its kernels down, and
  stops by pid any kernel still alive (Voila starts each kernel in a session of
  its own, so signalling a process group does not reach them).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: Largest single file a page accepts.
MAX_FILE_BYTES = 20 * 2**20
#: Largest total of one pick of files; the browser refuses more before sending anything.
MAX_PICK_BYTES = 60 * 2**20
#: Websocket messages above this are refused by the server: one pick plus room for its metadata.
WEBSOCKET_LIMIT_BYTES = MAX_PICK_BYTES + 4 * 2**20

#: The JupyterLab extensions a panel page loads: Voila's widgets manager and the widgets themselves.
PAGE_EXTENSIONS = ("@voila-dashboards/widgets-manager8", "@jupyter-widgets/jupyterlab-manager")

#: Environment variables the panel's kernels read: the slot folder and the number of slots.
SLOTS_ENV = "PNEUMOLAB_PANEL_SLOTS"
MAX_PAGES_ENV = "PNEUMOLAB_PANEL_MAX_PAGES"

#: Kernels talk to Voila over Unix sockets where there are some (see :func:`voila_config`).
IPC_TRANSPORT = os.name == "posix"
#: Seconds before a used pre-heated kernel is replaced, by default (see :func:`voila_config`).
REFILL_DELAY_S = 60
#: Seconds Voila gets to shut its kernels down before they are stopped by pid.
SHUTDOWN_GRACE_S = 20


@dataclass(frozen=True)
class PanelSettings:
    """How the panel is served: where, how many pages at once, and how long an unused kernel lives."""

    port: int = 8866
    host: str = "127.0.0.1"
    #: Most pages holding a model at once (waiting pre-heated kernels count).
    max_pages: int = 40
    #: Pre-heated kernels kept ready (0: each page starts its own kernel when opened).
    preheat: int = 2
    #: A kernel whose page is closed is stopped after this many idle seconds.
    cull_idle_s: int = 120
    #: A used pre-heated kernel is replaced after this many seconds. Replacements start together when a
    #: class arrives together: longer than the class takes to load keeps them off the CPU meanwhile.
    refill_after_s: int = REFILL_DELAY_S
    open_browser: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"--port must be between 1 and 65535, got {self.port}.")
        if self.max_pages < 1:
            raise ValueError(f"--max-pages must be at least 1, got {self.max_pages}.")
        if not 0 <= self.preheat <= self.max_pages:
            raise ValueError(f"--preheat must be between 0 and --max-pages ({self.max_pages}), "
                             f"got {self.preheat}.")
        if self.cull_idle_s < 10:
            raise ValueError(f"--cull-after must be at least 10 seconds, got {self.cull_idle_s}.")
        if self.refill_after_s < 0:
            raise ValueError(f"--refill-after must be at least 0 seconds, got {self.refill_after_s}.")

    @property
    def cull_interval_s(self) -> int:
        """How often idle kernels are looked for: a quarter of the idle time, at most every 30 s."""
        return max(2, min(30, self.cull_idle_s // 4))


class PortBusyError(OSError):
    """The port is taken (often by a panel still running); the message says what to do."""


def check_port(host: str, port: int) -> None:
    """Raise :class:`PortBusyError` unless ``host:port`` is free to listen on."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Tornado does: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortBusyError(
                    f"Port {port} on {host} is already in use (is another panel still running? stop it, "
                    f"or choose another port with --port)."
                ) from None
            raise PortBusyError(f"Cannot listen on {host}:{port}: {error.strerror}.") from None


def voila_config(settings: PanelSettings) -> dict:
    """Voila's configuration (written to ``voila.json``: only a file gives Voila integer values)."""
    return {
        "Voila": {
            "ip": settings.host,
            "port": settings.port,
            "port_retries": 0,  # a busy port is an error, never a silent move
            "open_browser": settings.open_browser,
            "tornado_settings": {"websocket_max_message_size": WEBSOCKET_LIMIT_BYTES},
        },
        "VoilaConfiguration": {
            "preheat_kernel": settings.preheat > 0,
            "default_pool_size": settings.preheat,
            "show_tracebacks": False,
            # The page needs only the widgets: every other installed JupyterLab extension (nbgrader's,
            # the notebook's) would be downloaded and run by each page, and some fail outside JupyterLab.
            "extension_allowlist": list(PAGE_EXTENSIONS),
        },
        # A page that takes a pre-heated kernel starts its replacement only after this many seconds,
        # so the replacements do not compete for the CPU with a class arriving all at once (until then
        # the pool holds the pending replacements: a page beyond the ready kernels waits for the first).
        "VoilaKernelManager": {"fill_delay": settings.refill_after_s},
        # Over TCP each kernel binds five ports picked as free moments earlier; with 30 kernels starting
        # together, Voila's own connections take such a port meanwhile and the kernel dies ("Address already
        # in use", five restarts on the same port, then its page never renders). Unix sockets in Voila's
        # connection folder cannot collide, and only this user can open them.
        **({"KernelManager": {"transport": "ipc"}} if IPC_TRANSPORT else {}),
        "MappingKernelManager": {
            "cull_idle_timeout": settings.cull_idle_s,
            "cull_interval": settings.cull_interval_s,
            "cull_connected": False,  # a page left open keeps its kernel
            "cull_busy": False,
        },
    }


def serve(settings: PanelSettings, notebook: Path, env: dict[str, str]) -> int:
    """Run Voila on ``notebook`` until Ctrl-C or SIGTERM; then stop it and all its kernels.

    ``env`` is added to the kernels' environment (the model folder, the runtime).
    """
    check_port(settings.host, settings.port)
    with tempfile.TemporaryDirectory(prefix="pneumolab-panel-") as scratch:
        config_dir, slots = Path(scratch) / "config", Path(scratch) / "slots"
        config_dir.mkdir()
        slots.mkdir()
        (config_dir / "voila.json").write_text(json.dumps(voila_config(settings)))
        config_path = os.pathsep.join(filter(None, [str(config_dir), os.environ.get("JUPYTER_CONFIG_PATH")]))
        child_env = os.environ | env | {"JUPYTER_CONFIG_PATH": config_path, SLOTS_ENV: str(slots),
                                        MAX_PAGES_ENV: str(settings.max_pages)}
        voila = subprocess.Popen([sys.executable, "-m", "voila", str(notebook)], env=child_env,
                                 start_new_session=True)  # Ctrl-C reaches this process only: one clean stop
        return _supervise(voila)


def _supervise(voila: subprocess.Popen) -> int:
    """Wait for Voila; on SIGINT/SIGTERM stop it and every kernel it started."""
    stopping = False

    def stop(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    kernels: list = []
    try:
        for tick in itertools.count():
            if voila.poll() is not None or stopping:
                break
            if tick % 10 == 0:  # every 2 s: if Voila dies on its own, its kernels (in sessions of their
                kernels = _children(voila.pid) or kernels  # own) are no longer its children; this list is
            time.sleep(0.2)  # then the only way left to stop them
        kernels = _children(voila.pid) or kernels
        if voila.poll() is None:
            print("Stopping the panel and its kernels...", file=sys.stderr, flush=True)
            voila.send_signal(signal.SIGTERM)  # Voila stops its loop and shuts every kernel down
            try:
                voila.wait(SHUTDOWN_GRACE_S)
            except subprocess.TimeoutExpired:
                voila.kill()
                voila.wait()
        _stop_all(kernels)
        return 0 if stopping else voila.returncode
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _children(pid: int) -> list:
    """Voila's descendants (its kernels), found before Voila goes."""
    import psutil

    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def kernels(pid: int) -> list:
    """The panel's kernels: ``ipykernel`` processes among the descendants of process ``pid``
    (the wrapper or Voila); for benchmarks and tests that measure or wait for them."""
    import psutil

    found = []
    for process in _children(pid):
        with contextlib.suppress(psutil.Error):
            if any("ipykernel" in part for part in process.cmdline()):
                found.append(process)
    return found


def _stop_all(processes: list, grace_s: float = 5) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, for every process still alive."""
    import psutil

    alive = [process for process in processes if process.is_running()]
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, left = psutil.wait_procs(alive, timeout=grace_s)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()


def claim_page_slot() -> IO | bool:
    """In a panel kernel: hold one of the class's page slots for the kernel's life.

    Returns the open, locked slot file (keep it: the lock lasts as long as the
    file stays open), ``True`` when no limit is set (not served by
    ``pneumolab panel``, or no ``fcntl`` on this system), and ``False`` when
    every slot is taken.
    """
    folder, count = os.environ.get(SLOTS_ENV), os.environ.get(MAX_PAGES_ENV)
    try:
        import fcntl
    except ImportError:  # Windows: no limit
        return True
    if not folder or not count:
        return True
    for index in range(int(count)):
        handle = open(Path(folder) / f"page-{index}.lock", "a")  # noqa: SIM115 (kept open on purpose)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except OSError:
            handle.close()
    return False
