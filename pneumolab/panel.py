"""The upload-and-predict page a teacher serves with ``pneumolab panel`` (ipywidgets, shown by Voila).

For every uploaded chest X-ray the page shows the image as uploaded, the
image the model actually receives, the model's score for pneumonia with the
decision at the model card's threshold, the score in words, and a Grad-CAM
overlay of where the model looked. A threshold slider re-labels the shown
results without running the model again, so a class can watch the trade-off
between missed pneumonias and false alarms.

Uploads stay in memory: nothing is written to disk, and the upload widget is
emptied after each batch so a saved notebook does not carry the images.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import keras
import numpy as np
from PIL import Image

from pneumolab import config, explain, models
from pneumolab.predict import ImageError, LoadedImage, Prediction, card_threshold, load_image, predict_images

#: Largest file accepted, in bytes; ``pneumolab panel`` raises the websocket limit above this.
MAX_UPLOAD_BYTES = 20 * 2**20
#: File types offered by the browser's file chooser.
ACCEPT = ".jpg,.jpeg,.png,.dcm"
#: Side, in screen pixels, of the pictures on the page.
DISPLAY_SIZE = 256

TEACHING_NOTE = (
    '<div class="pl-note" style="border-left:4px solid #c77700;background:#fff6e5;padding:6px 10px">'
    "<b>A teaching tool, not a diagnosis.</b> This model was trained for a course; its answers must "
    "never be used to decide anything about a patient. Uploaded images are kept in memory only and "
    "are not saved.</div>"
)


def build_panel(model_folder: str | Path | None = None) -> widgets.Widget:
    """The whole page for the model in ``model_folder`` (default: ``$PNEUMOLAB_MODEL``, else the reference).

    If no model can be loaded, the page says why instead of failing.
    """
    header = widgets.HTML(TEACHING_NOTE)
    try:
        folder = models.resolve(model_folder)
        return Panel(*models.load(folder), folder, header).widget
    except (OSError, ValueError, KeyError) as error:
        problem = _error(f"<b>No model to run.</b> {html.escape(str(error))}")
        return widgets.VBox([header, widgets.HTML(problem)])


class Panel:
    """One page: the model (loaded once), the shown predictions, and the widgets that show them."""

    def __init__(self, model: keras.Model, card: dict, folder: Path, header: widgets.Widget):
        self.model, self.card = model, card
        spec = card["input"]
        self.channels, self.size = int(spec["channels"]), int(spec["image_size"])
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
        self._verdicts: list[tuple[str, Prediction, Sequence[str], widgets.HTML]] = []
        self.upload.observe(self._on_upload, names="value")
        self.examples = _examples()
        self.example = widgets.Button(description="Try an example", icon="image",
                                      tooltip="a test film of the embedded sample, with its true label")
        self.example.on_click(self._on_example)
        self.slider.observe(self._on_threshold, names="value")
        self.no_grad_cam = self._warm_up()
        summary = _model_summary(card, folder, threshold)
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
        """Build the model's and Grad-CAM's compiled functions now, so the first upload answers fast.

        Returns why Grad-CAM cannot explain this model, if it cannot (answers are then shown without it).
        """
        blank = [np.zeros((self.size, self.size, self.channels), np.uint8)]
        try:
            predict_images(self.model, self.card, blank, explain=True)
            return None
        except ValueError as error:  # explain.grad_cam cannot take this model's graph apart
            predict_images(self.model, self.card, blank)
            return str(error)

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:  # our own reset below
            return
        self.status.value = f"<i>Reading {_files(len(files))}…</i>"
        try:
            self.show(files)
        except Exception as error:  # keep the page alive whatever happens; say what went wrong
            self.status.value = _error(f"Something went wrong: {html.escape(str(error))}")
        finally:
            self.upload.value = ()

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
        answers = iter(predict_images(self.model, self.card, good, threshold=self.slider.value,
                                      explain=self.no_grad_cam is None))
        for old in self.results.children:
            _close(old)
        self._verdicts = []
        cards = []
        for name, image in read:
            if isinstance(image, str):
                cards.append(widgets.HTML(_error(f"<b>{html.escape(name)}</b>: {html.escape(image)}")))
            else:
                cards.append(self._result_card(name, image, next(answers)))
        self.results.children = cards
        self.status.value = f"{len(good)} of {_files(len(read))} answered."

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
        height, width = image.pixels.shape[:2]
        gray = "gray" if self.channels == 1 else "RGB"
        pictures = [
            (_thumbnail(image.pixels), f"As uploaded ({image.format}, {width}×{height})"),
            (_enlarged(prediction.model_input, Image.Resampling.NEAREST),
             f"What the model sees ({self.size}×{self.size} {gray})"),
        ]
        if prediction.heatmap is not None:
            heat = explain.overlay(prediction.model_input, prediction.heatmap)
            pictures.append((_enlarged(heat, Image.Resampling.BILINEAR), "Where it looked (Grad-CAM)"))
        verdict = widgets.HTML(_verdict(name, prediction, image.notes))
        self._verdicts.append((name, prediction, image.notes, verdict))
        columns = [widgets.VBox([widgets.Image(value=png, format="png"), widgets.Label(caption)])
                   for png, caption in pictures]
        frame = widgets.Layout(border="1px solid #ccc", padding="4px")
        card = widgets.HBox([*columns, verdict], layout=frame)
        card.add_class("pl-result")
        return card

    def _on_threshold(self, change: dict) -> None:
        for name, prediction, notes, verdict in self._verdicts:
            verdict.value = _verdict(name, prediction.at(change["new"]), notes)


def _examples() -> list[Path]:
    """Test films of the embedded sample, normal and pneumonia alternating."""
    folder = config.SAMPLE_DIR / "test"
    normal, pneumonia = (sorted((folder / label).glob("*.jpeg")) for label in config.LABELS)
    return [path for pair in zip(normal, pneumonia, strict=False) for path in pair]


def _verdict(name: str, prediction: Prediction, notes: Sequence[str]) -> str:
    """The answer in words: score, decision at the threshold, and the score's strength."""
    lines = [
        f"<b>{html.escape(name)}</b>",
        f'P(pneumonia) = <span class="pl-probability">{prediction.probability:.4f}</span>',
        f'Decision at threshold {prediction.threshold:.4f}: <b class="pl-label">{prediction.label}</b>',
        f'<span class="pl-confidence">{prediction.confidence}</span>',
        *(f'<i class="pl-note">{html.escape(note)}</i>' for note in notes),
    ]
    return '<div class="pl-verdict" style="padding:0 12px">' + "<br>".join(lines) + "</div>"


def _model_summary(card: dict, folder: Path, threshold: float) -> str:
    spec = card["input"]
    gray = "gray" if spec["channels"] == 1 else "RGB"
    name = html.escape(str(card.get("name", folder.name)))
    text = (f'Model <b title="{html.escape(str(folder))}">{name}</b>: '
            f"{spec['image_size']}×{spec['image_size']} {gray} input, threshold {threshold:.4f}")
    splits = (("validation", card.get("validation")), ("the test split", card.get("test")))
    measured = [f"on {where}: finds {scores['recall']:.0%} of pneumonias, "
                f"clears {scores['specificity']:.0%} of normal X-rays"
                for where, scores in splits if scores and "recall" in scores and "specificity" in scores]
    if measured:
        text += " (" + "; ".join(measured) + ")"
    return f'<div class="pl-model">{text}.</div>'


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _close(widget: widgets.Widget) -> None:
    """Close a widget and everything inside it, so earlier results do not stay in the kernel's memory."""
    for child in getattr(widget, "children", ()):
        _close(child)
    widget.close()


def _error(text: str) -> str:
    return f'<div class="pl-error" style="border-left:4px solid #b00020;padding:4px 10px">{text}</div>'


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _as_pil(pixels: np.ndarray) -> Image.Image:
    pixels = np.clip(np.asarray(pixels), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def _thumbnail(pixels: np.ndarray) -> bytes:
    """The uploaded image shrunk to fit the page (never enlarged)."""
    picture = _as_pil(pixels)
    picture.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.LANCZOS)
    return _png(np.asarray(picture))


def _enlarged(pixels: np.ndarray, resample: Image.Resampling) -> bytes:
    """A small model-sized image blown up to the page's picture size."""
    return _png(np.asarray(_as_pil(pixels).resize((DISPLAY_SIZE, DISPLAY_SIZE), resample)))
