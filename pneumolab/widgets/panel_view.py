"""What the panel shows, as HTML and JPEG: verdicts in words, the model line, errors, pictures.

Pure text and Pillow, no widgets and no model: :mod:`pneumolab.widgets.panel`
puts these pieces on the page. :func:`verdict_html` is the answer in words
(score, decision at the threshold, its strength, the reader's warnings and
notes); :func:`model_summary_html` says which model answers and how it did
on validation and test; :func:`thumbnail_jpeg` and :func:`enlarged_jpeg` encode
the pictures at the page's :data:`DISPLAY_SIZE`, :func:`pictures_html` lays them out, and
:func:`upload_guard` refuses in the browser a pick of files too large to send.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from IPython.display import HTML
from PIL import Image

from pneumolab.data.reader import NOT_A_FILM
from pneumolab.inference.predict import chance_phrase, confidence_phrase
from pneumolab.models.card import ModelCard
from pneumolab.widgets.panel_server import MAX_FILE_BYTES, MAX_PICK_BYTES

#: Side, in pixels, of the pictures on the page.
DISPLAY_SIZE = 256
#: JPEG quality of those pictures: an X-ray and its heat map encode in 0.2 ms at ~12 KB, where a PNG
#: took 8-27 ms at 24-66 KB (the PNGs were 40 % of the kernel's work per answer, and the bytes go
#: through Voila to the browser, 30 times over in a class).
PICTURE_QUALITY = 90


def verdict_html(name: str, probability: float, threshold: float, notes: Sequence[str],
                 warnings: Sequence[str] = (), calibrated: bool = False) -> str:
    """The answer in words: score, decision at the threshold, the score's strength (for a calibrated
    model, the chance itself in words), and beside them the reader's warnings (not a chest film as the
    model knows it) and notes."""
    strength = chance_phrase(probability) if calibrated else confidence_phrase(probability, threshold)
    label = "PNEUMONIA" if probability >= threshold else "NORMAL"
    lines = [
        f"<b>{html.escape(name)}</b>",
        f'P(pneumonia) = <span class="pl-probability">{probability:.4f}</span>',
        f'Decision at threshold {threshold:.4f}: <b class="pl-label">{label}</b>',
        f'<span class="pl-confidence">{strength}</span>',
        *(f'<b class="pl-warning" style="color:#b00020">Warning: {NOT_A_FILM}: {html.escape(warning)}</b>'
          for warning in warnings),
        *(f'<i class="pl-note">{html.escape(note)}</i>' for note in notes),
    ]
    return '<div class="pl-verdict" style="padding:0 12px">' + "<br>".join(lines) + "</div>"


def model_summary_html(card: ModelCard, folder: Path, threshold: float) -> str:
    """One line on the model answering: its name, input, threshold, and what it scored where measured."""
    spec = card.input
    gray = "gray" if spec.channels == 1 else "RGB"
    name = html.escape(card.name or folder.name)
    text = (f'Model <b title="{html.escape(str(folder))}">{name}</b>: '
            f"{spec.image_size}×{spec.image_size} {gray} input, threshold {threshold:.4f}")
    splits = (("validation", card.reports.get("val")), ("the test split", card.reports.get("test")))
    measured = [f"on {where}: finds {scores['recall']:.0%} of pneumonias, "
                f"clears {scores['specificity']:.0%} of normal X-rays"
                for where, scores in splits if scores and "recall" in scores and "specificity" in scores]
    if measured:
        text += " (" + "; ".join(measured) + ")"
    return f'<div class="pl-model">{text}.</div>'


def files_phrase(count: int) -> str:
    """``1 file``, ``3 files``."""
    return f"{count} file" if count == 1 else f"{count} files"


def error_html(text: str) -> str:
    """``text`` (already HTML) marked as an error."""
    return f'<div class="pl-error" style="border-left:4px solid #b00020;padding:4px 10px">{text}</div>'


def _jpeg(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=PICTURE_QUALITY)
    return buffer.getvalue()


def _as_pil(pixels: np.ndarray) -> Image.Image:
    pixels = np.clip(np.asarray(pixels), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def thumbnail_jpeg(pixels: np.ndarray) -> bytes:
    """The uploaded image shrunk to fit the page (never enlarged)."""
    picture = _as_pil(pixels)
    picture.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.LANCZOS)
    return _jpeg(picture)


def enlarged_jpeg(pixels: np.ndarray, resample: Image.Resampling) -> bytes:
    """A small model-sized image blown up to the page's picture size."""
    return _jpeg(_as_pil(pixels).resize((DISPLAY_SIZE, DISPLAY_SIZE), resample))


def pictures_html(pictures: Sequence[tuple[bytes, str]]) -> str:
    """JPEGs side by side, each with its caption under it (the JPEGs inlined as data URLs)."""
    figures = "".join(
        f'<figure style="margin:0 8px 0 0">'
        f'<img src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}" alt="{html.escape(caption)}">'
        f'<figcaption class="pl-caption">{html.escape(caption)}</figcaption></figure>'
        for jpeg, caption in pictures)
    return f'<div class="pl-pictures" style="display:flex">{figures}</div>'


def upload_guard() -> HTML:
    """A script for the page: a pick of files too large for the panel is refused in the browser.

    ipywidgets sends all the files of one pick in one websocket message; a
    message over the server's limit closes the connection and the page dies
    without a word. The script wraps the file input's ``change`` listeners, so
    the pick is checked before the upload widget reads it, and says what to do.
    It must run before the widgets are drawn: display it before the panel.
    """
    script = """
<script>
(() => {
  if (window.plUploadGuard) return;
  window.plUploadGuard = true;
  const fileLimit = FILE_LIMIT, pickLimit = PICK_LIMIT, mb = (n) => (n / 1048576).toFixed(1) + " MB";
  const problemWith = (files) => {
    const big = files.find((f) => f.size > fileLimit), total = files.reduce((sum, f) => sum + f.size, 0);
    if (big) return `${big.name} is ${mb(big.size)}; the panel takes files up to ${mb(fileLimit)}.`;
    if (total > pickLimit) return `These ${files.length} files add up to ${mb(total)}; the panel takes `
      + `at most ${mb(pickLimit)} at once. Choose fewer files at a time.`;
    return "";
  };
  const say = (text) => {
    let note = document.getElementById("pl-upload-refused");
    if (!note) {
      note = document.createElement("div");
      note.id = "pl-upload-refused";
      note.className = "pl-error";
      note.style.cssText = "border-left:4px solid #b00020;padding:4px 10px;margin:6px 0;background:#fff";
      (document.querySelector(".widget-upload")?.closest(".widget-hbox") || document.body).after(note);
    }
    note.textContent = text;
  };
  // The upload widget's file input may never be attached to the page, so wrap the listener it adds.
  const add = HTMLInputElement.prototype.addEventListener;
  HTMLInputElement.prototype.addEventListener = function (type, listener, options) {
    if (type !== "change" || this.type !== "file" || typeof listener !== "function") {
      return add.call(this, type, listener, options);
    }
    const input = this;
    return add.call(this, type, function (event) {
      const problem = problemWith(Array.from(input.files || []));
      if (problem) {
        input.value = "";
        say("Not sent: " + problem);
        return undefined;
      }
      document.getElementById("pl-upload-refused")?.remove();
      return listener.call(this, event);
    }, options);
  };
})();
</script>
"""
    limits = script.replace("FILE_LIMIT", str(MAX_FILE_BYTES)).replace("PICK_LIMIT", str(MAX_PICK_BYTES))
    return HTML(limits)
