"""The upload-and-predict page a teacher serves with ``pneumolab panel`` (ipywidgets, shown by Voila).

For every uploaded chest X-ray the page shows the image as uploaded, the
image the model actually receives, the model's score for pneumonia with the
decision at the model card's threshold, the score in words, and a Grad-CAM
overlay of where the model looked. A threshold slider re-labels the shown
results without running the model again, so a class can watch the trade-off
between missed pneumonias and false alarms.

Uploads stay in memory: nothing is written to disk, and the upload widget is
emptied after each batch so a saved notebook does not carry the images. Only
the scores of shown results are kept; the decoded images go once the answer is
on the page, and their memory is handed back to the system.

By default the model runs in LiteRT (:mod:`pneumolab.inference.runtime`): a page's kernel
never imports TensorFlow and stays around 0.2 GB. ``PNEUMOLAB_RUNTIME=keras``
runs the Keras model instead (0.9 GB per page). Served by ``pneumolab panel``,
a page first claims one of the class's page slots (:mod:`pneumolab.widgets.panel_server`);
when none is free it says the class is full and offers to try again.
"""

from __future__ import annotations

import ctypes
import gc
import html
import os
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from PIL import Image

from pneumolab import config
from pneumolab.data.image import ImageError, LoadedImage
from pneumolab.data.reader import load_image
from pneumolab.inference import runtime as model_runtime
from pneumolab.inference import serving
from pneumolab.inference.predict import Prediction, card_threshold
from pneumolab.inference.runtime import KerasModel
from pneumolab.models import files as model_files
from pneumolab.widgets import panel_server
from pneumolab.widgets.panel_server import MAX_FILE_BYTES as MAX_UPLOAD_BYTES
from pneumolab.widgets.panel_view import (
    enlarged_jpeg,
    error_html,
    files_phrase,
    model_summary_html,
    pictures_html,
    thumbnail_jpeg,
    verdict_html,
)

#: File types offered by the browser's file chooser.
ACCEPT = ".jpg,.jpeg,.png,.mpo,.dcm"

TEACHING_NOTE = (
    '<div class="pl-note" style="border-left:4px solid #c77700;background:#fff6e5;padding:6px 10px">'
    "<b>A teaching tool, not a diagnosis.</b> This model was trained for a course; its answers must "
    "never be used to decide anything about a patient. Uploaded images are kept in memory only and "
    "are not saved.</div>"
)


#: Page slots held by this kernel (see :func:`.panel_server.claim_page_slot`): kept open for life.
_HELD_SLOTS: list = []


def build_panel(model_folder: str | Path | None = None, runtime: str | None = None) -> widgets.Widget:
    """The whole page for the model in ``model_folder`` (default: ``$PNEUMOLAB_MODEL``, else the reference).

    ``runtime`` is ``"lite"`` or ``"keras"`` (default: ``$PNEUMOLAB_RUNTIME``, else lite). If no
    model can be loaded, the page says why instead of failing; if the class is full, it says so.
    In a pre-heated Voila kernel the model is loaded and warmed up ahead, and the page slot is claimed
    only once a student's page takes the kernel.
    """
    header = widgets.HTML(TEACHING_NOTE)
    page = widgets.VBox([header])
    try:
        folder = model_files.resolve(model_folder)
        model = model_runtime.load(folder, runtime)
    except (OSError, ValueError, KeyError) as error:
        problem = error_html(f"<b>No model to run.</b> {html.escape(str(error))}")
        page.children = [header, widgets.HTML(problem)]
        return page
    panel = Panel(model, folder, header)  # its warm-up runs before a student's page asks for it
    _wait_for_a_page()
    _fill(page, panel)
    return page


def _wait_for_a_page() -> None:
    """In a pre-heated Voila kernel, wait until a student's page takes this kernel; elsewhere return.

    Everything alive before is first hidden from the garbage collector (:func:`_freeze_what_lives_on`),
    Voila's waiting function included: importing it imports jupyter_server, 100,000 objects.
    """
    if os.environ.get("VOILA_PREHEAT") == "True":
        from voila.utils import wait_for_request

        _freeze_what_lives_on()
        wait_for_request()
    else:
        _freeze_what_lives_on()


def _fill(page: widgets.VBox, panel: Panel) -> None:
    """Put the panel in ``page`` (under its header) if a page slot is free, else say the class is full."""
    header = page.children[0]
    slot = panel_server.claim_page_slot()
    if slot is False:
        retry = widgets.Button(description="Try again", icon="refresh")
        retry.on_click(lambda _: _fill(page, panel))
        full = error_html(f"<b>The class is full.</b> This panel serves at most "
                      f"{os.environ.get(panel_server.MAX_PAGES_ENV)} pages at once. Wait for a classmate "
                      "to close theirs (or close one of your other tabs), then try again.")
        page.children = [header, widgets.HTML(full), retry]
        return
    _HELD_SLOTS.append(slot)
    page.children = panel.widget.children


class Panel:
    """One page: the model (loaded once), the shown predictions, and the widgets that show them."""

    def __init__(self, model: serving.LiteModel | KerasModel, folder: Path, header: widgets.Widget):
        self.model, self.card = model, model.card
        card = self.card
        self.channels, self.size = card.input.channels, card.input.image_size
        threshold = card_threshold(card)
        self.upload = widgets.FileUpload(accept=ACCEPT, multiple=True, description="Upload X-rays")
        self.slider = widgets.FloatSlider(
            value=threshold, min=min(0.01, threshold), max=max(0.99, threshold), step=0.001,
            description="Threshold", readout_format=".4f", style={"description_width": "initial"},
        )
        self.reset = widgets.Button(description=f"Back to the model's threshold ({threshold:.4f})",
                                    layout=widgets.Layout(width="auto"))
        self.reset.on_click(lambda _: setattr(self.slider, "value", threshold))
        self.status = widgets.HTML()
        self.results = widgets.VBox()
        self._verdicts: list[tuple[str, float, Sequence[str], Sequence[str], widgets.HTML]] = []
        self.upload.observe(self._on_upload, names="value")
        self.examples = _examples()
        self.example = widgets.Button(description="Try an example", icon="image",
                                      tooltip="a test film of the embedded sample, with its true label")
        self.example.on_click(self._on_example)
        self.slider.observe(self._on_threshold, names="value")
        self.no_grad_cam = self._warm_up()
        summary = model_summary_html(card, folder, threshold)
        if self.no_grad_cam:
            reason = html.escape(self.no_grad_cam)
            summary += f"<div><i>Grad-CAM is not available for this model: {reason}</i></div>"
        self.widget = widgets.VBox([
            header,
            widgets.HTML(summary),
            widgets.HBox([self.upload, self.example, self.slider, self.reset]),
            self.status,
            self.results,
        ])

    def _warm_up(self) -> str | None:
        """Run a blank film through the model, Grad-CAM and the pictures now, so the first upload answers
        fast (in a pre-heated kernel this happens before any student arrives).

        Returns why Grad-CAM cannot explain this model, if it cannot (answers are then shown without it).
        """
        blank = np.zeros((self.size, self.size, self.channels), np.uint8)
        reason = self.model.no_cam_reason or None
        try:
            (answer,) = self._predict([blank], explain=self.model.explains)
        except ValueError as error:  # explain.grad_cam cannot take this Keras model's graph apart
            (answer,) = self._predict([blank])
            reason = str(error)
        self._pictures(LoadedImage(blank, "PNG", (self.size, self.size), "L"), answer)  # load the encoders
        return reason

    def _predict(self, images: Sequence[np.ndarray], threshold: float | None = None,
                 explain: bool = False) -> list[Prediction]:
        return self.model.predict_images(images, threshold, explain)

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:  # our own reset below
            return
        self.status.value = f"<i>Reading {files_phrase(len(files))}…</i>"
        try:
            self.show(files)
        except Exception as error:  # keep the page alive whatever happens; say what went wrong
            self.status.value = error_html(f"Something went wrong: {html.escape(str(error))}")
        finally:
            self.upload.value = ()
            del files, change
            _release_memory()

    def _on_example(self, _button: widgets.Button | None = None) -> None:
        """Answer the next test film of the embedded sample (normal and pneumonia in turn), named by truth."""
        path = self.examples[0]
        self.examples = [*self.examples[1:], path]
        self.status.value = "<i>Reading an example…</i>"
        self.show([{"name": f"example ({path.parent.name.lower()} film) {path.name}",
                    "content": path.read_bytes()}])

    def show(self, files: Sequence[dict]) -> None:
        """Predict uploaded files (ipywidgets ``FileUpload.value`` entries) and show one card per file."""
        read = [(str(entry.get("name", "upload")), self._read(entry)) for entry in files]
        good = [image.pixels for _, image in read if isinstance(image, LoadedImage)]
        answers = iter(self._predict(good, threshold=self.slider.value, explain=self.no_grad_cam is None))
        for old in self.results.children:
            _close(old)
        self._verdicts = []
        cards = []
        for name, image in read:
            if isinstance(image, str):
                cards.append(widgets.HTML(error_html(f"<b>{html.escape(name)}</b>: {html.escape(image)}")))
            else:
                cards.append(self._result_card(name, image, next(answers)))
        self.results.children = cards
        self.status.value = f"{len(good)} of {files_phrase(len(read))} answered."

    def _read(self, entry: dict) -> LoadedImage | str:
        """The file's pixels at the model's channels, or the reason it was refused."""
        content = entry["content"]
        size = memoryview(content).nbytes
        if size > MAX_UPLOAD_BYTES:
            return (f"The file is {size / 2**20:.1f} MB; the panel accepts files up to "
                    f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB.")
        try:
            return load_image(bytes(content), str(entry.get("name", "")), self.channels)
        except ImageError as error:
            return str(error)

    def _result_card(self, name: str, image: LoadedImage, prediction: Prediction) -> widgets.Widget:
        """One answer: its pictures (one HTML widget: fewer widgets, less for the browser to build) and
        the verdict in words, which the threshold slider re-labels."""
        words = (image.notes, image.warnings, prediction.calibrated)
        verdict = widgets.HTML(verdict_html(name, prediction.probability, prediction.threshold, *words))
        self._verdicts.append((name, prediction.probability, *words, verdict))  # no pixels kept
        pictures = widgets.HTML(pictures_html(self._pictures(image, prediction)))
        frame = widgets.Layout(border="1px solid #ccc", padding="4px")
        card = widgets.HBox([pictures, verdict], layout=frame)
        card.add_class("pl-result")
        return card

    def _pictures(self, image: LoadedImage, prediction: Prediction) -> list[tuple[bytes, str]]:
        """JPEGs with captions: the image as uploaded, what the model sees, and where it looked."""
        height, width = image.pixels.shape[:2]
        gray = "gray" if self.channels == 1 else "RGB"
        pictures = [
            (thumbnail_jpeg(image.pixels), f"As uploaded ({image.format}, {width}×{height})"),
            (enlarged_jpeg(prediction.model_input, Image.Resampling.NEAREST),
             f"What the model sees ({self.size}×{self.size} {gray})"),
        ]
        if prediction.heatmap is not None:
            heat = serving.overlay(prediction.model_input, prediction.heatmap)
            pictures.append((enlarged_jpeg(heat, Image.Resampling.BILINEAR), "Where it looked (Grad-CAM)"))
        return pictures

    def _on_threshold(self, change: dict) -> None:
        for name, probability, notes, warnings, calibrated, verdict in self._verdicts:
            verdict.value = verdict_html(name, probability, change["new"], notes, warnings, calibrated)


def _examples() -> list[Path]:
    """Test films of the embedded sample, normal and pneumonia alternating."""
    folder = config.SAMPLE_DIR / "test"
    normal, pneumonia = (sorted((folder / label).glob("*.jpeg")) for label in config.LABELS)
    return [path for pair in zip(normal, pneumonia, strict=False) for path in pair]


def _close(widget: widgets.Widget) -> None:
    """Close a widget and everything inside it, so earlier results do not stay in the kernel's memory."""
    for child in getattr(widget, "children", ()):
        _close(child)
    widget.close()


def _freeze_what_lives_on() -> None:
    """In a kernel of ``pneumolab panel`` (it serves one page for its life), move every object alive
    now (the imports, the model, the page) out of the garbage collector's sight with :func:`gc.freeze`:
    :func:`_release_memory` then scans only what an upload made. A full collection over the ~230,000
    objects of a panel kernel costs 0.1-0.2 CPU-seconds, as much as the answer itself; after this, 0.1 ms."""
    if os.environ.get(panel_server.SLOTS_ENV):
        gc.collect()
        gc.freeze()


def _release_memory() -> None:
    """Free what the last upload left behind and hand freed heap pages back to the system (glibc)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the allocator keeps its pages, nothing else to do
        pass
