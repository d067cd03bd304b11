"""What the panel shows, as HTML and PNG: verdicts in words, the model line, errors, pictures.

Pure text and Pillow, no widgets and no model: :mod:`pneumolab.widgets.panel`
puts these pieces on the page. :func:`verdict_html` is the answer in words
(score, decision at the threshold, its strength, the reader's warnings and
notes); :func:`model_summary_html` says which model answers and how it did
on validation and test; :func:`thumbnail_png` and :func:`enlarged_png` encode
the pictures at the page's :data:`DISPLAY_SIZE`, :func:`pictures_html` lays them out.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from pneumolab.data.reader import NOT_A_FILM
from pneumolab.inference.predict import chance_phrase, confidence_phrase
from pneumolab.models.card import ModelCard

#: Side, in pixels, of the pictures on the page.
DISPLAY_SIZE = 256


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


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _as_pil(pixels: np.ndarray) -> Image.Image:
    pixels = np.clip(np.asarray(pixels), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def thumbnail_png(pixels: np.ndarray) -> bytes:
    """The uploaded image shrunk to fit the page (never enlarged)."""
    picture = _as_pil(pixels)
    picture.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.LANCZOS)
    return _png(np.asarray(picture))


def enlarged_png(pixels: np.ndarray, resample: Image.Resampling) -> bytes:
    """A small model-sized image blown up to the page's picture size."""
    return _png(np.asarray(_as_pil(pixels).resize((DISPLAY_SIZE, DISPLAY_SIZE), resample)))


def pictures_html(pictures: Sequence[tuple[bytes, str]]) -> str:
    """PNGs side by side, each with its caption under it (the PNGs inlined as data URLs)."""
    figures = "".join(
        f'<figure style="margin:0 8px 0 0"><img src="data:image/png;base64,{base64.b64encode(png).decode()}" '
        f'alt="{html.escape(caption)}">'
        f'<figcaption class="pl-caption">{html.escape(caption)}</figcaption></figure>'
        for png, caption in pictures)
    return f'<div class="pl-pictures" style="display:flex">{figures}</div>'
