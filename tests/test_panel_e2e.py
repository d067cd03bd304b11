"""The panel end to end: ``pneumolab panel`` serves it with the shipped reference model through Voila,
Debian's Chromium shows it, real X-rays and broken files are uploaded through the page, and a
screenshot goes to figures/panel.png.

Needs Chromium (``apt-get install -y chromium``, or ``$PNEUMOLAB_CHROMIUM``): skipped without it,
failed in CI.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pneumolab import _browser, models
from pneumolab._browser import CHROMIUM, CHROMIUM_FLAGS
from pneumolab.viz import figures

#: Page load to widgets shown: Voila starts a kernel that imports TensorFlow and loads the model.
RENDER_TIMEOUT_MS = 90_000
ANSWER_TIMEOUT_MS = 30_000


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    """Wait until the server accepts connections; fail with its log if it exits or never listens."""
    if _browser.wait_for_port(port, process, seconds):
        return
    if process.poll() is not None:
        pytest.fail(f"pneumolab panel exited with {process.returncode}:\n{log.read_text()}")
    pytest.fail(f"pneumolab panel did not listen on port {port} within {seconds} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, films):
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} not found; install it with: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {missing}")
        pytest.skip(missing)
    from tests.test_panel_server import PanelProcess  # here: that module imports this one's helpers

    panel = PanelProcess(tmp_path_factory.mktemp("panel"))
    try:
        yield panel.url
    finally:
        panel.stop()  # the wrapper stops Voila and every kernel; leftovers are killed


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def upload(page, *paths: Path) -> None:
    """Choose files through the upload button, as a student would (its file input is never in the DOM)."""
    with page.expect_file_chooser() as chooser:
        page.click("button.widget-upload")
    chooser.value.set_files([str(path) for path in paths])


def verdict_of(page, name: str) -> dict:
    card = page.locator(f".pl-verdict:has-text('{name}')")
    card.wait_for(timeout=ANSWER_TIMEOUT_MS)
    return dict(probability=float(card.locator(".pl-probability").inner_text()),
                label=card.locator(".pl-label").inner_text(),
                confidence=card.locator(".pl-confidence").inner_text())


def error_of(page, name: str) -> str:
    message = page.locator(f".pl-error:has-text('{name}')")
    message.wait_for(timeout=ANSWER_TIMEOUT_MS)
    return message.inner_text()


def test_upload_predict_and_survive_bad_files(server, browser, films, tmp_path):
    """The page as a class sees it: the shipped reference model, real X-rays, broken and huge files."""
    threshold = models.load_card(models.resolve("reference")).threshold
    sick = sorted((films / "test" / "PNEUMONIA").glob("*"))[0]
    healthy = sorted((films / "test" / "NORMAL").glob("*"))[0]
    corrupt = tmp_path / "corrupt.jpeg"
    corrupt.write_bytes(sick.read_bytes()[:2000])
    big = tmp_path / "big-noise.png"  # over 10 MB: only passes if the panel raised the websocket limit
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (2000, 2000, 3), np.uint8)).save(big)
    assert big.stat().st_size > 11 * 2**20

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(server, timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("button.widget-upload", timeout=RENDER_TIMEOUT_MS)
    assert "A teaching tool, not a diagnosis." in page.inner_text("body")

    upload(page, sick, healthy)
    for name in (sick.name, healthy.name):
        answer = verdict_of(page, name)
        assert 0.0 <= answer["probability"] <= 1.0
        assert answer["label"] == ("PNEUMONIA" if answer["probability"] >= threshold else "NORMAL")
        assert answer["confidence"]
    assert page.locator(".pl-result img").count() == 6  # uploaded, model input, Grad-CAM for each
    # The upload was not kept: the panel empties the widget after its answers (a message of its own, which
    # may reach the page a moment after them).
    page.wait_for_selector("button.widget-upload:has-text('Upload X-rays (0)')", timeout=ANSWER_TIMEOUT_MS)

    upload(page, corrupt, big)
    assert "damaged or incomplete" in error_of(page, corrupt.name)
    assert 0.0 <= verdict_of(page, big.name)["probability"] <= 1.0

    upload(page, sick, healthy, corrupt)  # still working after errors
    assert verdict_of(page, sick.name)["label"] in ("NORMAL", "PNEUMONIA")
    verdict_of(page, healthy.name)
    assert "damaged or incomplete" in error_of(page, corrupt.name)
    page.wait_for_timeout(300)  # let the pictures paint before the screenshot
    page.screenshot(path=str(figures.figures_dir() / "panel.png"))
    page.close()
