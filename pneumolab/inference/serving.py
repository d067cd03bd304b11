"""The light inference path: a trained model exported once to LiteRT and run without TensorFlow.

A panel kernel that imports TensorFlow and Keras holds about 0.9 GB before
any upload; the same model run by the LiteRT interpreter (``ai-edge-litert``)
needs about 0.2 GB (the three-member reference ensemble, after a 2000 px upload)
and answers with its Grad-CAM map in ~50 ms on one core, so a class of 30 fits
in a laptop's memory.

Grad-CAM survives the export. For a model that ends in global average
pooling and a linear layer (every model of the course), the gradient of a
class's logit with respect to the last feature map is the same at every
position, the layer's weight for that class divided by the map's area, so
Grad-CAM is exactly the class activation map ``relu(sum_c w_c * A_c)``. The
exported model returns the model's output and ``A @ W`` (one logit map per
class); :func:`activation_maps` finishes the job in NumPy, as
:func:`pneumolab.explain.gradcam.grad_cam` does in TensorFlow (ReLU, bilinear resize to
the input, divide by the maximum).

The export (:func:`export`) needs TensorFlow, so :func:`ensure_exported` runs it
in a child process: the caller never imports TensorFlow. The reference model
ships with its export; any other model is exported at first use into the cache
(``$PNEUMOLAB_CACHE/lite``), keyed by the SHA-256 of its ``model.keras``.

Images go to the model through :func:`pneumolab.preprocess.numpy_input.to_model_input`,
the NumPy twin of the training pipeline's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from pneumolab import config
from pneumolab._quiet import startup_lines_hidden
from pneumolab.models.card import ModelCard
from pneumolab.models.files import MODEL_FILE, load_card
from pneumolab.preprocess.numpy_input import to_model_input

if TYPE_CHECKING:
    from pneumolab.inference.predict import Prediction

#: The shipped export inside a model folder (the reference model has one).
LITE_FILE = "model.tflite"
#: What the export was made from and what it returns, beside the ``.tflite`` file.
INFO_SUFFIX = ".json"
#: Threads per interpreter: one, so 30 kernels on two cores do not fight over them.
THREADS = 1
#: Largest batch handed to the interpreter at once (bounds the activations' memory).
BATCH_SIZE = 8


@dataclass(frozen=True)
class ExportInfo:
    """What an exported model was made from, and whether it also returns class activation maps."""

    source_sha256: str
    image_size: int
    channels: int
    cam: bool
    #: Why there are no maps (the head is not global pooling + a linear layer), when ``cam`` is false.
    no_cam_reason: str = ""


class ExportError(ValueError):
    """The model could not be exported (the message says why and how to serve it anyway)."""


def source_digest(folder: str | Path) -> str:
    """SHA-256 of the folder's ``model.keras``: an export is valid only for the exact file it came from."""
    digest = hashlib.sha256()
    with (Path(folder) / MODEL_FILE).open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _info_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + INFO_SUFFIX)


def _read_info(artifact: Path) -> ExportInfo | None:
    try:
        return ExportInfo(**json.loads(_info_path(artifact).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def cached_export(folder: str | Path, digest: str | None = None) -> Path:
    """Where the export of ``folder``'s model (SHA-256 ``digest``) goes when the folder has none."""
    return config.cache_dir() / "lite" / f"{(digest or source_digest(folder))[:20]}.tflite"


def find_export(folder: str | Path, digest: str | None = None) -> Path | None:
    """A valid export of the folder's model (shipped beside it, or in the cache), or ``None``."""
    digest = digest or source_digest(folder)
    for artifact in (Path(folder) / LITE_FILE, cached_export(folder, digest)):
        info = _read_info(artifact)
        if artifact.is_file() and info is not None and info.source_sha256 == digest:
            return artifact
    return None


def ensure_exported(folder: str | Path) -> Path:
    """The folder's export, made first (in a child process, with TensorFlow) if there is none yet."""
    digest = source_digest(folder)  # read the model file once
    artifact = find_export(folder, digest)
    if artifact is not None:
        return artifact
    target = cached_export(folder, digest)
    print(f"Exporting {Path(folder) / MODEL_FILE} to LiteRT (once; about 20 s)...",
          file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "pneumolab.inference.serving", str(folder), str(target)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise ExportError(f"Could not export {folder} to LiteRT: {reason}")
    return target


def export(folder: str | Path, target: str | Path) -> ExportInfo:
    """Export the folder's Keras model to a LiteRT file at ``target`` (needs TensorFlow).

    The exported function takes float32 images ``(N, size, size, channels)`` on
    the 0-255 scale and returns the model's output and, when the head allows,
    the per-class logit maps of the last feature map.
    """
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from pneumolab.models.ensemble import cam_head

    folder, target = Path(folder), Path(target)
    card = load_card(folder)
    model = keras.models.load_model(folder / MODEL_FILE, compile=False)
    size, channels = card.input.image_size, card.input.channels
    head = cam_head(model)
    outputs = [model.outputs[0]]
    reason = ""
    if isinstance(head, str):
        reason = head
    else:
        pool, dense = head
        outputs.append(keras.ops.einsum("nhwc,ck->nhwk", pool.input, dense.kernel))
    both = keras.Model(model.inputs, outputs)

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, channels], tf.float32)])
    def serve(images):
        results = both(images, training=False)
        return list(results) if isinstance(results, list | tuple) else [results]

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    blob = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    info = ExportInfo(source_digest(folder), size, channels, cam=not reason, no_cam_reason=reason)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Each file appears whole or not at all (several kernels may look for them), the model first:
    # its description, which vouches for it, must never stand beside an older model.
    _write_atomically(target, blob)
    _write_atomically(_info_path(target), (json.dumps(asdict(info), indent=2) + "\n").encode())
    return info


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    partial.replace(path)


class LiteModel:
    """An exported model in the LiteRT interpreter, with its model card: predictions and their maps."""

    def __init__(self, artifact: Path, card: ModelCard):
        from ai_edge_litert.interpreter import Interpreter

        info = _read_info(artifact)
        if info is None:
            raise ExportError(f"{artifact} has no readable {INFO_SUFFIX} beside it; export the model again.")
        self.info, self.card = info, card
        self.interpreter = Interpreter(model_path=str(artifact), num_threads=THREADS)
        self._input = self.interpreter.get_input_details()[0]["index"]
        # Outputs come back in no promised order: the model's output first, then the 4-D maps.
        details = sorted(self.interpreter.get_output_details(), key=lambda detail: len(detail["shape"]))
        self._outputs = [detail["index"] for detail in details]
        self._batch = 0

    @property
    def explains(self) -> bool:
        """True when the export returns class activation maps (Grad-CAM)."""
        return self.info.cam

    @property
    def no_cam_reason(self) -> str:
        """Why the export returns no maps (empty when it does)."""
        return self.info.no_cam_reason

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The model's outputs ``(N, classes)`` and logit maps ``(N, h, w, classes)`` (``None`` without)."""
        batch = np.ascontiguousarray(batch, np.float32)
        if batch.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self._input, batch.shape)
            with startup_lines_hidden():  # LiteRT's "Created ... XNNPACK delegate" line, on every allocation
                self.interpreter.allocate_tensors()
            self._batch = batch.shape[0]
        self.interpreter.set_tensor(self._input, batch)
        self.interpreter.invoke()
        results = [self.interpreter.get_tensor(index).copy() for index in self._outputs]
        return results[0], (results[1] if len(results) > 1 else None)

    def predict_images(self, images: Sequence[np.ndarray], threshold: float | None = None,
                       explain: bool = False) -> list[Prediction]:
        """Like :func:`pneumolab.inference.predict.predict_images`, without TensorFlow."""
        from pneumolab.inference.predict import Prediction, card_threshold, pneumonia_scores
        from pneumolab.limits import check_threshold

        card, spec = self.card, self.card.input
        threshold = card_threshold(card) if threshold is None else check_threshold(threshold)
        size, channels = spec.image_size, spec.channels
        results: list[Prediction] = []
        for start in range(0, len(images), BATCH_SIZE):
            batch = np.stack([to_model_input(image, size, channels, spec.fit)
                              for image in images[start : start + BATCH_SIZE]])
            outputs, cams = self.run(batch)
            scores = pneumonia_scores(outputs, card)
            maps: Sequence[np.ndarray | None] = [None] * len(scores)
            if explain and cams is not None:
                maps = activation_maps(cams, outputs, size)
            calibrated = card.calibration is not None
            results += [Prediction(float(score), threshold, model_input, heatmap, calibrated)
                        for score, model_input, heatmap in zip(scores, batch, maps, strict=True)]
        return results


def load(folder: str | Path) -> LiteModel:
    """The folder's model in LiteRT (exported first if needed) with its card."""
    return LiteModel(ensure_exported(folder), load_card(folder))


def activation_maps(cams: np.ndarray, outputs: np.ndarray, size: int) -> np.ndarray:
    """Grad-CAM maps ``(N, size, size)`` in 0-1 from logit maps: pneumonia for one sigmoid unit, else
    the predicted class; ReLU, bilinear resize to the input, divided by the maximum."""
    if cams.shape[-1] == 1:
        chosen = cams[..., 0]
    else:
        chosen = np.take_along_axis(cams, np.argmax(outputs, axis=-1)[:, None, None, None], axis=-1)[..., 0]
    maps = []
    for cam in np.maximum(chosen, 0).astype(np.float32):
        resized = np.asarray(Image.fromarray(cam, mode="F").resize((size, size), Image.Resampling.BILINEAR))
        peak = float(resized.max())
        maps.append(resized / peak if peak > 0 else np.zeros_like(resized))
    return np.stack(maps)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """A model input (0-255, grey or RGB) in grey with a same-sized heat map blended on top, RGB uint8.

    The colours are matplotlib's ``jet``, as in :func:`pneumolab.viz.explain.overlay`.
    """
    from matplotlib import colormaps

    picture = np.clip(np.asarray(image, np.float32) / 255.0, 0, 1)
    if picture.ndim == 2:
        picture = picture[..., np.newaxis]
    picture = np.repeat(picture, 3, axis=-1) if picture.shape[-1] == 1 else picture[..., :3]
    colored = colormaps["jet"](np.clip(heatmap, 0, 1))[..., :3]
    return np.round(255 * ((1 - alpha) * picture + alpha * colored)).astype(np.uint8)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pneumolab.inference.serving FOLDER TARGET``: export a model folder.

    Run in a child process by :func:`ensure_exported`."""
    parser = argparse.ArgumentParser(description="Export a PneumoLab model folder to LiteRT.")
    parser.add_argument("folder")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    info = export(args.folder, args.target)
    print(f"Exported to {args.target} (Grad-CAM maps: {'yes' if info.cam else 'no, ' + info.no_cam_reason})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
