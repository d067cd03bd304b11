"""Debian's headless Chromium and loopback ports, as the kit's own browser checks use them.

The panel's end-to-end tests and its latency and load benchmarks drive the page in
Chromium through Playwright; they share the browser's path, its flags (no sandbox, no
GPU, nothing fetched from the network, no throttling of pages in the background) and
the port helpers here. Never a browser download: ``apt-get install -y chromium``, or
name another Chromium in ``$PNEUMOLAB_CHROMIUM``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

#: Debian's Chromium; ``$PNEUMOLAB_CHROMIUM`` names another.
CHROMIUM = Path(os.environ.get("PNEUMOLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-renderer-backgrounding", "--disable-background-timer-throttling"]


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts connections on ``port`` of the loopback interface."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, process: subprocess.Popen, seconds: float) -> bool:
    """Wait until ``process`` (a server being started) accepts connections on ``port``; ``False`` if it
    exits first or ``seconds`` pass. It only connects: an HTTP request to the panel would start a kernel."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if listening(port):
            return True
        time.sleep(0.1)
    return False
