"""A class at once: N headless Chromium pages open the panel together, each uploads a full-size X-ray.

    python benchmarks/panel_load.py [--pages 1 10 30] [--browsers K] [--refill-after S] [--data DIR]
                                    [--choose S] [--together]

For each N, ``pneumolab panel`` is started on loopback with N pre-heated kernels
(what a teacher does before the class arrives: ``--preheat N``) and waits until
they are ready; then N pages, each in its own browser context, spread over K
Chromium instances (default: one per page, as in a class), open the panel at the
same moment and each uploads a 2000 x 2000 JPEG made from a real test X-ray (made
in a temporary folder, never kept): by default each student uploads once their own
page shows, after ``--choose`` seconds to pick the file (a person needs a few; a
script that uploads the instant the button appears measures the page's last
loading work, not the answer); with ``--together`` every student waits until all
pages have rendered and all upload at the same instant. It reports pages answered, time to the page's
load event and to its widgets (page requested -> upload button shown), answer time
(file chosen -> verdict shown), median and 95th percentile, the memory of every
panel kernel (RSS, and PSS: shared pages split between the processes that share
them, so PSS sums to the real total) once all have answered, and the CPU seconds
the browsers (their GPU processes apart), the kernels and Voila used meanwhile.
Every wait is bounded; the server and every kernel are stopped after each N.

Why 30 pages in one Chromium never rendered: its one GPU process (software compositing) saturated,
30 replacement kernels started at +60 s (``--refill-after``), loads took 204 s, and Voila's page
gives up on a script chunk not loaded in 120 s (webpack's timeout): its widgets never show.

Targets (issue 16): 30 pages all answered, <= 250 MB per panel kernel, p95 upload -> answer <= 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from _report import report
from PIL import Image

from pneumolab._browser import CHROMIUM, CHROMIUM_FLAGS, free_port, listening
from pneumolab.data import manifest as data
from pneumolab.widgets import panel_server

SIDE = 2000
TARGETS = dict(pages_answered="all", kernel_mb=250, p95_answer_s=3.0)
RENDER_TIMEOUT_S = 300
ANSWER_TIMEOUT_S = 180
START_TIMEOUT_S = 900
#: Seconds without a new kernel after which the pool counts as complete (one may fail to start).
SETTLE_S = 60
MIN_KERNEL_CPU_S = 2.0  # CPU seconds a kernel needs to start, run the notebook and load the model


@dataclass
class PageResult:
    """What one simulated student saw."""

    html_s: float | None = None
    render_s: float | None = None
    answer_s: float | None = None
    error: str = ""
    console: list[str] = field(default_factory=list)


@dataclass
class Memory:
    """Memory of the server side once every page has answered, in MB."""

    kernels: int = 0
    kernel_rss_median: float = 0.0
    kernel_rss_max: float = 0.0
    kernel_pss_median: float = 0.0
    total_pss: float = 0.0
    per_process: list[dict] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


def big_xray(data_dir: str | None, folder: Path) -> Path:
    """A real test X-ray blown up to 2000 x 2000 gray, saved as a scanner would (JPEG, quality 90)."""
    manifest = data.build_manifest(data_dir, check=False)
    first = manifest.loc[manifest["split"] == "test", "path"].iloc[0]
    picture = Image.open(first).convert("L").resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    path = folder / "full-size-xray.jpeg"
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    return path


def start_panel(pages: int, preheat: int, runtime: str, home: Path, log: Path,
                refill_after: int = 60) -> tuple[subprocess.Popen, int]:
    """``pneumolab panel`` on loopback with ``preheat`` kernels ready; returns once they are."""
    port = free_port()
    command = [sys.executable, "-m", "pneumolab.cli", "panel", "--no-browser", "--port", str(port),
               "--runtime", runtime, "--preheat", str(preheat), "--max-pages", str(pages + preheat),
               "--cull-after", "600", "--refill-after", str(refill_after)]
    env = {k: v for k, v in os.environ.items() if k != "PNEUMOLAB_MODEL"} | {"HOME": str(home),
                                                                           "MPLBACKEND": "Agg"}
    with log.open("wb") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    wrapper = psutil.Process(server.pid)
    deadline = time.monotonic() + START_TIMEOUT_S
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline and server.poll() is None:
        count = len(panel_server.kernels(wrapper.pid))
        if count != seen:
            seen, since = count, time.monotonic()
        settled = count >= preheat or time.monotonic() - since > SETTLE_S  # a kernel that never came
        if listening(port) and (preheat == 0 or settled and _kernels_ready(wrapper, min(count, preheat))):
            return server, port
        time.sleep(0.5)
    stop_panel(server, wrapper)
    raise RuntimeError(f"the panel did not get {preheat} kernels ready in {START_TIMEOUT_S} s:\n"
                       + log.read_text()[-2000:])


def _kernels_ready(wrapper: psutil.Process, count: int, quiet_s: float = 3.0) -> bool:
    """``count`` kernels exist and none used CPU for ``quiet_s``: all have run the notebook and wait."""
    kernels = panel_server.kernels(wrapper.pid)
    if len(kernels) < max(count, 1) or any(sum(k.cpu_times()[:2]) < MIN_KERNEL_CPU_S for k in kernels):
        return False  # not all started, or some have not yet imported the panel and loaded the model
    def cpu() -> float:
        return sum(sum(k.cpu_times()[:2]) for k in kernels if k.is_running())
    before = cpu()
    time.sleep(quiet_s)
    return cpu() - before < 0.05 * len(kernels)


def stop_panel(server: subprocess.Popen, wrapper: psutil.Process) -> None:
    """SIGTERM to the wrapper (it stops Voila and every kernel); anything left is killed."""
    started: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        started = wrapper.children(recursive=True)
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=90)
    finally:
        for process in started:
            with contextlib.suppress(psutil.Error):
                process.kill()


#: Runs in every page before its own scripts: notes the page's clock (ms since the request) when the
#: upload button first shows and when the verdict for FILE_NAME does. Playwright's own waits poll, at
#: up to 500 ms apart, so they bound the waiting but are not precise enough to time it.
WATCH = """
(() => {
  const seen = window.plSeen = {};
  new MutationObserver(() => {
    if (!seen.upload && document.querySelector("button.widget-upload")) seen.upload = performance.now();
    if (!seen.verdict && Array.from(document.querySelectorAll(".pl-verdict"))
        .some((verdict) => verdict.textContent.includes(FILE_NAME))) seen.verdict = performance.now();
  }).observe(document, {childList: true, subtree: true, characterData: true});
})();
"""


@dataclass
class Protocol:
    """How the simulated students behave once their page is open."""

    #: Seconds a student takes to pick the file in the browser's dialog (not part of the answer time).
    choose_s: float = 3.0
    #: Everyone uploads at the same instant, once every page has rendered (the teacher says "now").
    together: bool = False


async def one_student(browser, url: str, xray: Path, start: asyncio.Event, protocol: Protocol,
                      everyone: asyncio.Barrier, uploading: asyncio.Event) -> tuple[PageResult, object]:
    result = PageResult()
    context = await browser.new_context()
    await context.add_init_script(WATCH.replace("FILE_NAME", repr(xray.name)))
    page = await context.new_page()
    page.on("console", lambda m: m.type == "error" and len(result.console) < 5
            and result.console.append(m.text[:200]))
    page.on("pageerror", lambda e: len(result.console) < 5 and result.console.append(str(e)[:200]))
    await start.wait()
    try:
        began = time.perf_counter()
        await page.goto(url, timeout=RENDER_TIMEOUT_S * 1000)
        result.html_s = time.perf_counter() - began
        await page.wait_for_selector("button.widget-upload", timeout=RENDER_TIMEOUT_S * 1000)
        result.render_s = await page.evaluate("plSeen.upload") / 1000
    except Exception as error:  # a page that fails is counted, not fatal
        await _gave_up(page, result, error)
    if protocol.together and await everyone.wait() == 0:  # every page calls it once, rendered or not
        uploading.set()
    if result.render_s is None:
        return result, context
    try:
        await asyncio.sleep(protocol.choose_s)
        async with page.expect_file_chooser() as chooser:
            await page.click("button.widget-upload")
        chosen = await chooser.value
        began = await page.evaluate("performance.now()")
        await chosen.set_files(str(xray))
        await page.wait_for_selector(f".pl-verdict:has-text('{xray.name}')", timeout=ANSWER_TIMEOUT_S * 1000)
        result.answer_s = (await page.evaluate("plSeen.verdict") - began) / 1000
    except Exception as error:
        await _gave_up(page, result, error)
    return result, context


async def _gave_up(page, result: PageResult, error: Exception) -> None:
    """Record why a page failed and what the student was looking at then."""
    result.error = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    with contextlib.suppress(Exception):
        shown = " ".join((await page.inner_text("body", timeout=10_000)).split())
        result.error += f" (page showed: {shown[:150]!r})"


async def a_class(pages: int, url: str, xray: Path, wrapper: psutil.Process,
                  browsers: int, protocol: Protocol) -> tuple[list[PageResult], Memory]:
    """``pages`` students spread over ``browsers`` Chromium instances: one Chromium composites every
    page it shows in its one GPU process (software, here), which 30 pages saturate on their own."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        opened = [await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
                  for _ in range(max(1, min(browsers, pages)))]
        start, everyone, uploading = asyncio.Event(), asyncio.Barrier(pages), asyncio.Event()
        tasks = [asyncio.create_task(one_student(opened[i % len(opened)], url, xray, start, protocol,
                                                 everyone, uploading))
                 for i in range(pages)]
        await asyncio.sleep(1)
        before, began = cpu_seconds(wrapper), time.perf_counter()
        start.set()
        answering = asyncio.create_task(_when(uploading, lambda: (cpu_seconds(wrapper), time.perf_counter())))
        done = await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
        after = cpu_seconds(wrapper)
        memory = measure(wrapper)  # with every page still open
        memory.cpu = cpu_share(before, after, wall)
        if answering.done():  # --together: the CPU of the uploads alone, from the instant all began
            at_uploads, uploads_began = answering.result()
            phase = cpu_share(at_uploads, after, time.perf_counter() - uploads_began)
            memory.cpu |= {f"uploads_{key}": value for key, value in phase.items()}
        answering.cancel()
        for _, context in done:
            await context.close()
        for browser in opened:
            await browser.close()
    return [result for result, _ in done], memory


async def _when(event: asyncio.Event, then):
    await event.wait()
    return then()


def cpu_seconds(wrapper: psutil.Process) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) used so far by every process of the panel and of the browser."""
    panel = {wrapper.pid} | {p.pid for p in _descendants(wrapper)}
    found = {}
    for process in [wrapper, *_descendants(psutil.Process())]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            if process.pid not in panel:  # Playwright's driver and Chromium, started by this script
                kind = "gpu" if "--type=gpu-process" in process.cmdline() else "browser"
            elif process.pid == wrapper.pid:
                kind = "wrapper"
            else:
                kind = "kernel" if any("ipykernel" in p for p in process.cmdline()) else "voila"
            found[process.pid] = (kind, times.user + times.system)
    return found


def _descendants(process: psutil.Process) -> list[psutil.Process]:
    return panel_server._children(process.pid)


def cpu_share(before: dict, after: dict, wall_s: float) -> dict[str, float]:
    """CPU seconds each kind of process used while the class ran (processes that ended are missed),
    the wall time, and the busy CPU seconds of the whole machine in that time."""
    used: dict[str, float] = {"browser": 0.0, "gpu": 0.0, "kernel": 0.0, "voila": 0.0, "wrapper": 0.0}
    for pid, (kind, seconds) in after.items():
        used[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    return {f"{kind}_cpu_s": round(value, 1) for kind, value in used.items()} | {"wall_s": round(wall_s, 1)}


def measure(wrapper: psutil.Process) -> Memory:
    rows = []
    for process in [wrapper, *wrapper.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            kind = "kernel" if any("ipykernel" in p for p in process.cmdline()) else (
                "wrapper" if process.pid == wrapper.pid else "voila")
            rows.append(dict(kind=kind, pid=process.pid, rss_mb=info.rss / 2**20, pss_mb=info.pss / 2**20))
    kernels = [r for r in rows if r["kind"] == "kernel"]
    return Memory(
        kernels=len(kernels),
        kernel_rss_median=statistics.median(r["rss_mb"] for r in kernels) if kernels else 0.0,
        kernel_rss_max=max((r["rss_mb"] for r in kernels), default=0.0),
        kernel_pss_median=statistics.median(r["pss_mb"] for r in kernels) if kernels else 0.0,
        total_pss=sum(r["pss_mb"] for r in rows),
        per_process=rows,
    )


#: Lines every run of the panel logs (one per kernel or page): not worth a look.
ROUTINE = ("is not trusted", "Starting buffering", "Kernel shutdown",
           "Kernel started", "Voilà is running at", "http://127.0.0.1", "Handle signal", "Stopping the panel",
           "Starting the panel", "connection files", "Serving static files", "notebook-signing key",
           "Culling kernels", "is filled with", "Using pre-heated kernel", "Adapting from protocol version",
           "Connecting to kernel", "websocket_ping_timeout")


def notable_lines(log: str, most: int = 40) -> list[str]:
    """The panel log's lines that are not routine (a kernel that failed to start says why here)."""
    lines = [line for line in log.splitlines() if line.strip() and not any(r in line for r in ROUTINE)]
    return lines[:most]


def percentile(values: list[float], share: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else None


def run(pages: int, preheat: int | None, runtime: str, xray: Path, workdir: Path, protocol: Protocol,
        browsers: int | None = None, refill_after: int = 60) -> dict:
    home = workdir / f"home-{pages}"
    home.mkdir()
    log = workdir / f"panel-{pages}.log"
    ready = pages if preheat is None else preheat
    began = time.perf_counter()
    server, port = start_panel(pages, ready, runtime, home, log, refill_after)
    wrapper = psutil.Process(server.pid)
    ready = len(panel_server.kernels(wrapper.pid))  # as many as actually came up
    startup = time.perf_counter() - began
    try:
        url = f"http://127.0.0.1:{port}/"
        results, memory = asyncio.run(a_class(pages, url, xray, wrapper, browsers or pages, protocol))
    finally:
        stop_panel(server, wrapper)
    renders = [r.render_s for r in results if r.render_s is not None]
    answers = [r.answer_s for r in results if r.answer_s is not None]
    htmls = [r.html_s for r in results if r.html_s is not None]
    errors = sorted({r.error for r in results if r.error})
    console = sorted({line for r in results for line in r.console})
    notable = notable_lines(log.read_text(errors="replace"))
    if errors or notable:
        print(f"N={pages}: {errors}\nbrowser console: {console[:5]}\npanel log, unusual lines:\n"
              + "\n".join(notable), flush=True)
    return dict(
        pages=pages, uploads="together" if protocol.together else "when rendered",
        choose_s=protocol.choose_s, runtime=runtime, preheated=ready, refill_after_s=refill_after,
        browsers=min(pages, browsers or pages), startup_s=startup, answered=len(answers),
        html_median_s=statistics.median(htmls) if htmls else None,
        render_median_s=statistics.median(renders) if renders else None,
        render_p95_s=percentile(renders, 0.95),
        answer_median_s=statistics.median(answers) if answers else None,
        answer_p95_s=percentile(answers, 0.95),
        kernels=memory.kernels, kernel_rss_mb=memory.kernel_rss_median,
        kernel_rss_max_mb=memory.kernel_rss_max,
        kernel_pss_mb=memory.kernel_pss_median, total_pss_mb=memory.total_pss,
        **memory.cpu, errors="; ".join(errors)[:300], console=console[:10], processes=memory.per_process,
        panel_log=notable,
    )


def main() -> None:
    global RENDER_TIMEOUT_S
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 10, 30], help="class sizes to try")
    parser.add_argument("--preheat", type=int, help="kernels made ready before the class (default: N)")
    parser.add_argument("--runtime", choices=["lite", "keras"], default="lite")
    parser.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA)")
    parser.add_argument("--render-timeout", type=float, default=RENDER_TIMEOUT_S,
                        help=f"seconds a page may take to render (default {RENDER_TIMEOUT_S})")
    parser.add_argument("--browsers", type=int, help="Chromium instances the pages are spread over "
                        "(default: one per page, as a class has one browser per student)")
    parser.add_argument("--refill-after", type=int, default=60,
                        help="pneumolab panel --refill-after: seconds before a used kernel is replaced")
    parser.add_argument("--choose", type=float, default=Protocol.choose_s,
                        help="seconds a student takes to pick the file once the page shows (default "
                        f"{Protocol.choose_s}; not counted in the answer time)")
    parser.add_argument("--together", action="store_true",
                        help="all pages upload at the same instant, once every page has rendered")
    args = parser.parse_args()
    protocol = Protocol(choose_s=args.choose, together=args.together)
    RENDER_TIMEOUT_S = args.render_timeout
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: apt-get install -y chromium (or set PNEUMOLAB_CHROMIUM)")

    rows = []
    with tempfile.TemporaryDirectory(prefix="panel-load-") as scratch:
        workdir = Path(scratch)
        xray = big_xray(args.data, workdir)
        for pages in args.pages:
            row = run(pages, args.preheat, args.runtime, xray, workdir, protocol, args.browsers,
                      args.refill_after)
            rows.append(row)
            print(f"N={pages}: {row['answered']}/{pages} answered, render p95 {row['render_p95_s']}, "
                  f"answer p95 {row['answer_p95_s']}, kernel RSS {row['kernel_rss_mb']:.0f} MB", flush=True)
    table = [{k: v for k, v in row.items() if k not in ("processes", "errors", "console", "panel_log")}
             for row in rows]
    name = "panel_load_together" if protocol.together else "panel_load"
    report(name, table, targets=TARGETS, image=f"{SIDE}x{SIDE} gray JPEG, {xray.name}",
           details=[dict(pages=r["pages"], errors=r["errors"], console=r["console"], processes=r["processes"],
                         panel_log=r["panel_log"]) for r in rows])
    for row in rows:
        p95, rss = row["answer_p95_s"], row["kernel_rss_mb"]
        print(f"N={row['pages']}: answered {row['answered']}/{row['pages']}, kernel RSS {rss:.0f} MB "
              f"({'meets' if rss <= 250 else 'misses'}), p95 answer {p95 or float('nan'):.2f} s "
              f"({'meets' if p95 is not None and p95 <= 3 else 'misses'})"
              + (f"; errors: {row['errors']}" if row["errors"] else ""))


if __name__ == "__main__":
    main()
