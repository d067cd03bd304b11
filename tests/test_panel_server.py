"""``pneumolab panel`` for a class: the wrapper stays light, stops everything it started, refuses a busy
port, culls the kernels of closed pages (but not the pre-heated ones), limits the pages open at once,
refuses oversized picks in the browser, and a page's kernel runs without TensorFlow.

The server tests drive Debian's Chromium (skipped without it, failed in CI), like test_panel_e2e.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import ipywidgets as widgets
import psutil
import pytest
from PIL import Image

from pneumolab import cli, models
from pneumolab._browser import CHROMIUM, CHROMIUM_FLAGS, free_port, listening
from pneumolab.inference import serving
from pneumolab.widgets import panel_server
from pneumolab.widgets.panel import Panel
from tests.test_panel_e2e import upload, verdict_of, wait_for_port

RENDER_TIMEOUT_MS = 120_000


def wait_until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def loads_tensorflow(process: psutil.Process) -> bool:
    return any("tensorflow" in m.path for m in process.memory_maps())


class PanelProcess:
    """``pneumolab panel`` started in a fresh session with its own HOME, as a teacher would start it."""

    def __init__(self, root: Path, *options: str):
        self.port = free_port()
        self.log = root / f"panel-{self.port}.log"
        home = root / "home"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != models.MODEL_ENV}
        env |= {"HOME": str(home), "MPLBACKEND": "Agg"}
        command = [sys.executable, "-m", "pneumolab.cli", "panel", "--no-browser", "--port", str(self.port),
                   *options]
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.wrapper = psutil.Process(self.process.pid)
        wait_for_port(self.port, self.process, self.log, seconds=90)
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self, signum: int = signal.SIGTERM) -> list[psutil.Process]:
        """Signal the wrapper alone; return every process it had started (all should be gone)."""
        started = self.wrapper.children(recursive=True)
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=60)
        finally:
            for process in started:  # never leave anything behind, even when the test fails
                with contextlib.suppress(psutil.Error):
                    process.kill()
        return started


@pytest.fixture
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {CHROMIUM} not found")
        pytest.skip(f"{CHROMIUM} not found; install it with: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1"])
def test_port_is_validated(port, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["panel", "--no-browser", "--port", port])
    assert stop.value.code == 2
    assert "port" in capsys.readouterr().err


@pytest.mark.parametrize("option, value", [("--max-pages", "0"), ("--max-pages", "many"), ("--preheat", "-1"),
                                           ("--preheat", "2.5"), ("--cull-after", "9")])
def test_class_limits_are_whole_numbers_in_range(option, value, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["panel", "--no-browser", option, value])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert option in error and "whole number" in error


def test_busy_port_is_a_clear_error_not_a_move(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["panel", "--no-browser", "--port", str(port)]) == 1
    error = capsys.readouterr().err
    assert f"Port {port} on 127.0.0.1 is already in use" in error and "--port" in error


@pytest.mark.parametrize("bad", [dict(max_pages=0), dict(preheat=5, max_pages=4), dict(cull_idle_s=3),
                                 dict(refill_after_s=-1)])
def test_settings_are_validated(bad):
    with pytest.raises(ValueError):
        panel_server.PanelSettings(**bad)


def test_voila_settings_cull_closed_pages_and_match_the_upload_limit():
    config = panel_server.voila_config(panel_server.PanelSettings(cull_idle_s=60, preheat=3))
    culling = config["MappingKernelManager"]
    assert culling["cull_idle_timeout"] == 60 and culling["cull_connected"] is False
    assert config["VoilaConfiguration"]["default_pool_size"] == 3
    assert config["Voila"]["port_retries"] == 0
    limit = config["Voila"]["tornado_settings"]["websocket_max_message_size"]
    assert panel_server.MAX_PICK_BYTES < limit < 2 * panel_server.MAX_PICK_BYTES


def test_pages_load_only_the_installed_widget_extensions():
    """Every other installed JupyterLab extension would be downloaded and run by each of 30 pages (nbgrader's
    fails outside JupyterLab); a misspelt name here would leave the page without widgets."""
    from jupyter_core.paths import jupyter_path

    voila = panel_server.voila_config(panel_server.PanelSettings())["VoilaConfiguration"]
    allowed = voila["extension_allowlist"]
    assert allowed == list(panel_server.PAGE_EXTENSIONS)
    folders = [Path(p) for p in jupyter_path("labextensions") + jupyter_path("voila", "labextensions")]
    for name in allowed:
        assert any((folder / name / "package.json").is_file() for folder in folders), name


def test_refill_delay_reaches_voila_from_the_command_line(monkeypatch):
    """``--refill-after``: a class of 30 arriving at once must not meet 30 replacement kernels starting."""
    assert panel_server.voila_config(panel_server.PanelSettings())["VoilaKernelManager"]["fill_delay"] == 60
    made = []

    def record(**settings):
        made.append(panel_server.voila_config(real(**settings)))
        raise KeyboardInterrupt  # stop the command once its settings are made

    real = panel_server.PanelSettings
    monkeypatch.setattr(panel_server, "PanelSettings", record)
    cli.main(["panel", "--no-browser", "--refill-after", "900", "--preheat", "30"])
    assert made[0]["VoilaKernelManager"]["fill_delay"] == 900
    with pytest.raises(SystemExit):
        cli.main(["panel", "--no-browser", "--refill-after", "-5"])


def test_page_slots_are_limited_and_freed_when_a_kernel_ends(tmp_path, monkeypatch):
    monkeypatch.setenv(panel_server.SLOTS_ENV, str(tmp_path))
    monkeypatch.setenv(panel_server.MAX_PAGES_ENV, "2")
    holder = subprocess.Popen([sys.executable, "-c", "from pneumolab.widgets import panel_server; "
                               "s = panel_server.claim_page_slot(); print(bool(s), flush=True); "
                               "import time; time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"  # another kernel holds one slot
        mine = panel_server.claim_page_slot()
        assert mine not in (True, False)
        assert panel_server.claim_page_slot() is False  # the class is full
    finally:
        holder.kill()
        holder.wait()
    assert panel_server.claim_page_slot() not in (True, False)  # its slot came back when it ended
    mine.close()


def test_an_upload_leaves_no_decoded_images_behind(films):
    """Ten 2000 px films (16 MB of pixels each as float) answered: the page keeps scores and pictures only."""
    folder = models.resolve("reference")
    lite = serving.load(folder)
    page = Panel(lite, folder, widgets.HTML())
    film = Image.open(sorted((films / "test" / "NORMAL").glob("*.jpeg"))[0]).convert("L")
    import io

    buffer = io.BytesIO()
    film.resize((2000, 2000)).save(buffer, format="PNG")
    files = [dict(name=f"film{i}.png", content=memoryview(buffer.getvalue())) for i in range(10)]
    page.show(files[:1])  # warm: caches, first allocations
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    page.show(files)
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(page._verdicts) == 10 and all(isinstance(v[1], float) for v in page._verdicts)
    assert kept < 10 * 2000 * 2000  # far less than one decoded 8-bit film per upload


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_wrapper_stops_voila_and_every_kernel(tmp_path, signum):
    """Pre-heated kernels start with no page open; one signal to the wrapper ends them all."""
    panel = PanelProcess(tmp_path, "--preheat", "2")
    try:
        def two_kernels():
            found = panel_server.kernels(panel.wrapper.pid)
            return len(found) == 2 and found

        kernels = wait_until(two_kernels, 90, "two pre-heated kernels")
        assert not loads_tensorflow(panel.wrapper)
        # Reached over Unix sockets: TCP ports picked for 30 kernels at once collide (see voila_config).
        for command in (kernel.cmdline() for kernel in kernels):
            connection = Path(command[command.index("-f") + 1])
            assert json.loads(connection.read_text())["transport"] == "ipc"
        assert all(kernel.pid != panel.wrapper.pid for kernel in kernels)
    finally:
        started = panel.stop(signum)
    assert panel.process.returncode == 0, panel.log.read_text()
    assert len(started) >= 3  # Voila and two kernels
    assert not [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not listening(panel.port)  # nobody serves the port any more


def test_closed_pages_are_culled_full_class_waits_oversized_picks_refused(tmp_path, chromium, films):
    """One server, one page slot, a 10 s cull: the whole life of a class's pages."""
    panel = PanelProcess(tmp_path, "--max-pages", "1", "--preheat", "1", "--cull-after", "10")
    try:
        (kernel,) = wait_until(lambda: panel_server.kernels(panel.wrapper.pid), 60, "the pre-heated kernel")
        first = chromium.new_context().new_page()  # each student has a browser of their own
        first.goto(panel.url, timeout=RENDER_TIMEOUT_MS)  # takes the pre-heated kernel
        first.wait_for_selector("button.widget-upload", timeout=RENDER_TIMEOUT_MS)
        assert not loads_tensorflow(kernel)  # the LiteRT path

        # An oversized pick is refused in the browser, and the page still answers afterwards.
        big = [tmp_path / f"big{i}.png" for i in range(4)]
        for path in big:
            path.write_bytes(os.urandom(18 * 2**20))
        upload(first, *big)
        assert "Not sent" in first.locator("#pl-upload-refused").inner_text(timeout=5_000)
        film = sorted((films / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
        upload(first, film)
        assert 0 <= verdict_of(first, film.name)["probability"] <= 1

        # The only slot is taken: the next page says so instead of hanging.
        second = chromium.new_context().new_page()
        second.goto(panel.url, timeout=RENDER_TIMEOUT_MS)
        second.wait_for_selector("text=The class is full", timeout=RENDER_TIMEOUT_MS)

        # The first page closes; its kernel is culled; the waiting page gets the slot on "Try again".
        pages_kernels = {k.pid for k in panel_server.kernels(panel.wrapper.pid)}
        first.close()
        wait_until(lambda: kernel.pid not in {k.pid for k in panel_server.kernels(panel.wrapper.pid)}, 60,
                   "the closed page's kernel to be culled")
        second.click("button:has-text('Try again')")
        second.wait_for_selector("button.widget-upload", timeout=RENDER_TIMEOUT_MS)
        assert len(pages_kernels) >= 2  # the page's kernel and the pool's refill
        second.close()
    finally:
        panel.stop()
    assert panel.process.returncode == 0
