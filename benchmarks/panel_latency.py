"""Panel latency: upload to answer (read, predict, Grad-CAM) for a 2000x2000 gray JPEG, and start-up
time from ``pneumolab panel`` to the first rendered page in Chromium.

    python benchmarks/panel_latency.py [--model DIR|reference] [--data DIR] [--repeats N] [--no-browser]

Measures the model the panel serves by default (the shipped reference) unless told another.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ipywidgets as widgets
from _report import report
from PIL import Image

from pneumolab import models
from pneumolab._browser import CHROMIUM, CHROMIUM_FLAGS, free_port, wait_for_port
from pneumolab.data import manifest as data
from pneumolab.inference import runtime as model_runtime
from pneumolab.inference.predict import read_image
from pneumolab.widgets.panel import Panel

SIDE = 2000
TARGET_MS = 500


def big_xray(data_dir: str | None) -> bytes:
    """A real test X-ray blown up to 2000x2000 gray, as a JPEG like a scanner's (quality 90)."""
    manifest = data.build_manifest(data_dir, check=False)
    first = manifest.loc[manifest["split"] == "test", "path"].iloc[0]
    picture = Image.open(first).convert("L").resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def median_ms(job: Callable[[], object], repeats: int) -> float:
    job()  # warm: compiled functions, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def kernel_steps(folder: Path, content: bytes, repeats: int, runtime: str) -> dict[str, float]:
    """Milliseconds of each step in the kernel, and of the panel's whole upload handling, with the
    model in ``runtime``: ``lite`` (LiteRT, the panel's default) or ``keras``."""
    model = model_runtime.load(folder, runtime)
    card, predict = model.card, model.predict_images
    channels = card.input.channels
    pixels = read_image(content, "big.jpeg", channels)
    page = Panel(model, folder, widgets.HTML())
    upload = dict(name="big.jpeg", type="image/jpeg", size=len(content), content=memoryview(content),
                  last_modified=datetime.datetime.now(datetime.UTC))
    return {
        f"read {SIDE}x{SIDE} JPEG": median_ms(lambda: read_image(content, "big.jpeg", channels), repeats),
        "predict": median_ms(lambda: predict([pixels]), repeats),
        "predict + Grad-CAM": median_ms(lambda: predict([pixels], explain=True), repeats),
        "panel upload to answer (kernel)": median_ms(lambda: page.show([upload]), repeats),
    }


def browser_steps(folder: Path, content: bytes, workdir: Path) -> dict[str, float]:
    """Milliseconds from ``pneumolab panel`` to the first rendered page, and of one upload in the browser."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    images = [workdir / "big.jpeg", workdir / "big-again.jpeg"]
    for image in images:
        image.write_bytes(content)
    home = Path(tempfile.mkdtemp(dir=workdir, prefix="home-"))
    env = os.environ | {"HOME": str(home), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "pneumolab.cli", "panel", "--no-browser", "--port", str(port),
               "--model", str(folder)]
    start = time.perf_counter()
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        if not wait_for_port(port, server, seconds=120):
            raise RuntimeError(f"pneumolab panel did not start on port {port}")
        listening = time.perf_counter()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            page = browser.new_page()
            launched = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("button.widget-upload", timeout=120_000)
            rendered = time.perf_counter()
            uploads = [upload_seconds(page, image) for image in images]
            browser.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return {
        "start: CLI + Voila listening": 1000 * (listening - start),
        "start: Chromium launch": 1000 * (launched - listening),
        "start: page load to widgets": 1000 * (rendered - launched),
        "start: total to first render": 1000 * (rendered - start),
        "browser upload to answer (first)": 1000 * uploads[0],
        "browser upload to answer (again)": 1000 * uploads[1],
    }


#: In the page, checked at every frame: the page's clock once the verdict for the file is shown.
SHOWN = """(name) => Array.from(document.querySelectorAll(".pl-verdict"))
  .some((verdict) => verdict.textContent.includes(name)) && performance.now()"""


def upload_seconds(page, image: Path) -> float:
    """Seconds from choosing ``image`` in the page to its answer being shown."""
    with page.expect_file_chooser() as chooser:
        page.click("button.widget-upload")
    start = page.evaluate("performance.now()")
    chooser.value.set_files(str(image))
    shown = page.wait_for_function(SHOWN, arg=image.name, polling="raf", timeout=60_000)
    return (shown.json_value() - start) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="reference", help="model folder or 'reference'")
    parser.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per kernel step (median kept)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Voila + Chromium start-up timing")
    args = parser.parse_args()

    content = big_xray(args.data)
    rows = []
    with tempfile.TemporaryDirectory(prefix="panel-latency-") as scratch:
        workdir = Path(scratch)
        folder = models.resolve(args.model)
        card = models.load_card(folder)
        spec = card.input
        shape = f"{spec.image_size} px {'gray' if spec.channels == 1 else 'RGB'}"
        for runtime in ("lite", "keras"):
            steps = kernel_steps(folder, content, args.repeats, runtime)
            rows += [dict(model=args.model, name=card.name, input=shape, runtime=runtime, step=step, ms=ms)
                     for step, ms in steps.items()]
        if not args.no_browser and CHROMIUM.exists():
            rows += [dict(model=args.model, name=card.name, input=shape, runtime="lite", step=step, ms=ms)
                     for step, ms in browser_steps(folder, content, workdir).items()]
    report("panel_latency", rows, image=f"{SIDE}x{SIDE} gray JPEG, {len(content) / 1e6:.1f} MB",
           target_ms=TARGET_MS)
    kernel = [r for r in rows if r["step"] == "panel upload to answer (kernel)"]
    for row in kernel:
        verdict = "meets" if row["ms"] <= TARGET_MS else "misses"
        print(f"{row['model']} ({row['input']}, {row['runtime']}): upload to answer {row['ms']:.0f} ms, "
              f"{verdict} the {TARGET_MS} ms target")


if __name__ == "__main__":
    main()
