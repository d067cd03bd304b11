"""Where is the model looking? Grad-CAM, occlusion maps, overlays and saliency sanity checks.

Used by the explainability notebook and the panel, so every function takes a
model exactly as trained (float32 input on a 0-255 scale, sigmoid or softmax
output) and returns plain NumPy arrays or a matplotlib ``Figure``.

:func:`grad_cam` (Selvaraju et al. 2017) shows which regions of the image
raised the class score, from the last convolutional feature map, which it
finds on its own, inside a transfer model's backbone too (or any layer named,
see :func:`feature_layer`). :func:`occlusion_map` gives a model-agnostic
second opinion by covering patches. :func:`overlay` and
:func:`explanation_figure` draw a map on its image.

The module also holds the sanity checks of the explainability notebook:
:func:`randomization_check` (Adebayo et al. 2018) and :func:`border_share`,
how much of a map lies where markers and text are rather than the lungs.

Scores are the pre-activation logits when the last layer is a ``Dense`` or
``Activation`` ending in sigmoid or softmax, or a ``Sequential`` head ending
in one (the transfer model's), as in the paper: a confident prediction
saturates a float32 sigmoid to exactly 1.0, whose gradient is 0.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import keras
import matplotlib
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure
from scipy import stats

from pneumolab.preprocess import transforms as preprocess

ClassIndex = int | Sequence[int] | None
Forward = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]

#: Models whose compiled explainers are kept; a notebook rarely juggles more.
_CACHE_SIZE = 4
_CACHE: OrderedDict[int, tuple[keras.Model, _Explainer]] = OrderedDict()
_SQUASHING = (keras.activations.sigmoid, keras.activations.softmax)


def grad_cam(
    model: keras.Model,
    images: np.ndarray | tf.Tensor,
    *,
    class_index: ClassIndex = None,
    layer: str | None = None,
) -> np.ndarray:
    """Grad-CAM heat maps in [0, 1] at input resolution, one per image.

    ``images`` is a batch ``(N, H, W, C)`` (maps ``(N, H, W)``) or one image
    ``(H, W, C)`` (map ``(H, W)``). ``class_index`` is one class for all
    images or one per image; ``None`` explains P(pneumonia) for a sigmoid
    model (class 1; 0 explains "normal") and the predicted class for a
    softmax model. ``layer`` names the feature-map layer, at any depth;
    by default the last 4-D layer before global pooling.
    """
    batch = tf.convert_to_tensor(images, tf.float32)
    single = batch.shape.rank == 3
    if single:
        batch = batch[tf.newaxis]
    if batch.shape.rank != 4:
        raise ValueError(f"Expected images of shape (N, H, W, C) or (H, W, C), got {batch.shape}.")
    explainer = _explainer(model)
    path = _target(model, layer)
    maps = explainer.grad_cam(path, batch, explainer.class_indices(class_index, batch.shape[0])).numpy()
    return maps[0] if single else maps


def feature_layer(model: keras.Model, layer: str | None = None) -> tuple[str, tuple[int, ...]]:
    """The layer :func:`grad_cam` works on, as a path like ``"tuned_stages/head_relu"``, and its output shape.

    With ``layer=None``, the one found automatically (the last 4-D output before
    global pooling); a name checks that ``layer`` can be used. The shape
    ``(H, W, channels)`` says how coarse the maps are: one cell of an
    ``H x W`` grid is stretched over ``image size / H`` pixels.
    """
    path = _target(model, layer)
    return "/".join(step.name for step in path), tuple(path[-1].output.shape[1:])


def occlusion_map(
    model: keras.Model,
    image: np.ndarray | tf.Tensor,
    *,
    patch: int | None = None,
    stride: int | None = None,
    baseline: float | None = None,
    class_index: int | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Occlusion sensitivity in [0, 1] for one ``(H, W, C)`` image: a model-agnostic second opinion.

    Each ``patch``-sized square (default an eighth of the shorter side, moved
    by ``stride``, default half a patch) is filled with ``baseline`` (default
    the image's mean grey) and the drop of the class score is spread over the
    pixels it covered. Costs one forward pass per position, in batches.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise ValueError(f"Expected one image of shape (H, W, C), got {image.shape}.")
    height, width = image.shape[:2]
    patch = min(patch or max(1, min(height, width) // 8), height, width)
    stride = stride or max(1, patch // 2)
    fill = float(image.mean()) if baseline is None else baseline
    corners = list(itertools.product(_starts(height, patch, stride), _starts(width, patch, stride)))

    explainer = _explainer(model)
    reference = explainer.scores(tf.constant(image[np.newaxis]))
    chosen = explainer.class_indices(class_index, 1)
    target = int(tf.where(chosen < 0, explainer.default_classes(reference), chosen)[0])
    reference = reference.numpy()[0]
    drops = []
    for start in range(0, len(corners), batch_size):
        chunk = corners[start : start + batch_size]
        occluded = np.repeat(image[np.newaxis], len(chunk), axis=0)
        for copy, (y, x) in zip(occluded, chunk, strict=True):
            copy[y : y + patch, x : x + patch] = fill
        drops.append(reference[target] - explainer.scores(tf.constant(occluded)).numpy()[:, target])

    total = np.zeros((height, width), np.float64)
    count = np.zeros((height, width), np.float64)
    for (y, x), drop in zip(corners, np.concatenate(drops), strict=True):
        total[y : y + patch, x : x + patch] += drop
        count[y : y + patch, x : x + patch] += 1
    heat = np.maximum(total / np.maximum(count, 1), 0)
    peak = heat.max()
    return (heat / peak if peak > 0 else heat).astype(np.float32)


def overlay(
    image: np.ndarray | tf.Tensor, heatmap: np.ndarray, *, alpha: float = 0.4, cmap: str = "jet"
) -> np.ndarray:
    """The image in grey with the heat map blended on top, as RGB uint8 ``(H, W, 3)``.

    ``image`` is gray or RGB, integer or float on the models' 0-255 scale, at
    any size: the heat map is resized to it, so a map can be laid on the
    full-resolution original.
    """
    picture = _display_rgb(image)
    heat = np.asarray(heatmap, np.float32)
    if heat.shape != picture.shape[:2]:
        heat = tf.image.resize(heat[..., np.newaxis], picture.shape[:2]).numpy()[..., 0]
    colored = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return np.round(255 * ((1 - alpha) * picture + alpha * colored)).astype(np.uint8)


def explanation_figure(
    image: np.ndarray | tf.Tensor,
    heatmap: np.ndarray,
    *,
    title: str | None = None,
    probability: float | None = None,
    alpha: float = 0.4,
    cmap: str = "jet",
) -> Figure:
    """Image, heat map and overlay side by side; the title carries the model's probability if given.

    A bare ``Figure`` (not pyplot), so a long-running panel leaks no figures;
    Jupyter still displays it inline.
    """
    figure = Figure(figsize=(10, 3.6), layout="constrained")
    left, middle, right = figure.subplots(1, 3)
    left.imshow(_display_rgb(image))
    left.set_title("image")
    shown = middle.imshow(heatmap, cmap=cmap, vmin=0, vmax=1)
    middle.set_title("heat map")
    figure.colorbar(shown, ax=middle, shrink=0.8)
    right.imshow(overlay(image, heatmap, alpha=alpha, cmap=cmap))
    right.set_title("overlay")
    for axes in (left, middle, right):
        axes.set_axis_off()
    heading = [title] if title else []
    if probability is not None:
        heading.append(f"p = {probability:.2f}")
    if heading:
        figure.suptitle(" · ".join(heading))
    return figure


def randomized_copy(model: keras.Model, seed: int) -> keras.Model:
    """The same architecture with every weight re-initialized (reproducibly from ``seed``).

    The model-randomization test of Adebayo et al. (2018): a saliency method
    worth trusting must give clearly different maps for this copy.
    """
    seeds = itertools.count(seed)

    def reseeded(layer: keras.Layer) -> keras.Layer:
        config = layer.get_config()
        for key, value in config.items():
            if key.endswith("_initializer") and isinstance(value, dict) and "seed" in value.get("config", {}):
                value["config"]["seed"] = next(seeds)
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=reseeded, recursive=True)


def map_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of the same shape; 0.0 when either is constant (no ranking)."""
    a, b = np.ravel(a), np.ravel(b)
    if a.shape != b.shape:
        raise ValueError(f"Maps differ in size: {np.shape(a)} and {np.shape(b)}.")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def randomization_check(
    model: keras.Model, images: np.ndarray, *, seeds: Sequence[int] = (0, 1, 2), layer: str | None = None
) -> pd.DataFrame:
    """The model-randomization test on a batch: how alike are the trained and the randomized model's maps?

    One row per image and randomized copy (one per seed): ``image, seed,
    similarity`` (:func:`map_similarity` of the two Grad-CAM maps) and
    ``blank`` (the randomized map is all zero: no positive evidence anywhere,
    so nothing to rank and a similarity of 0 by convention). A method that
    explains the model gives similarities near 0; near 1 it shows the image,
    not what was learned.
    """
    trained = grad_cam(model, images, layer=layer)
    rows = []
    for seed in seeds:
        with _quiet_tracing():
            randomized = grad_cam(randomized_copy(model, seed), images, layer=layer)
        rows.extend(dict(image=i, seed=seed, similarity=map_similarity(a, b), blank=not b.any())
                    for i, (a, b) in enumerate(zip(trained, randomized, strict=True)))
    return pd.DataFrame(rows)


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence TensorFlow's retracing warning: every new model compiles new functions, as expected here."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def border_share(maps: np.ndarray, margin: float = 0.1) -> np.ndarray | float:
    """Share of a map's heat within ``margin`` (a fraction of the side) of the image's edges.

    Side markers ("R", "L"), burnt-in text and the film's borders sit there, the
    lungs do not. A map spread evenly puts ``1 - (1 - 2 margin)**2`` of its heat
    there (about 36 % for the default): clearly more means the model looks at the
    frame. One map ``(H, W)`` gives a number, a stack ``(N, H, W)`` one per map;
    an all-zero map has no heat to share: NaN.
    """
    if not 0 < margin < 0.5:
        raise ValueError(f"margin must lie between 0 and 0.5, got {margin}.")
    heat = np.asarray(maps, np.float64)
    if heat.ndim not in (2, 3):
        raise ValueError(f"Expected a map (H, W) or a stack (N, H, W), got shape {heat.shape}.")
    height, width = heat.shape[-2:]
    rows, cols = max(1, round(margin * height)), max(1, round(margin * width))
    inner = heat[..., rows : height - rows, cols : width - cols].sum(axis=(-2, -1))
    total = heat.sum(axis=(-2, -1))
    share = 1 - np.divide(inner, total, out=np.full(np.shape(total), np.nan), where=total > 0)
    return float(share) if heat.ndim == 2 else share


# ----------------------------------------------------------------------------- finding the feature map


def _feature_map_rank(layer: keras.Layer) -> int:
    """Rank of a layer's output, 0 for input layers and layers with several outputs."""
    if isinstance(layer, keras.layers.InputLayer) or isinstance(layer.output, list | tuple):
        return 0
    return len(layer.output.shape)


def _target(model: keras.Model, name: str | None) -> list[keras.Layer]:
    """Path from ``model`` to the feature-map layer: ``[layer]``, or ``[backbone, layer]`` when nested."""
    if name is None:
        path = _last_feature_map(model)
        if not path:
            raise ValueError("The model has no layer with a 4-D (convolutional) output to explain.")
        return path
    path = _search(model, name)
    if not path:
        candidates = ", ".join(_feature_map_names(model)) or "none"
        raise ValueError(f"No layer named {name!r} in the model; layers with a 4-D output: {candidates}.")
    if _feature_map_rank(path[-1]) != 4:
        raise ValueError(f"Layer {name!r} has no 4-D (convolutional) output; Grad-CAM needs a feature map.")
    return path


def _last_feature_map(model: keras.Model) -> list[keras.Layer]:
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model) and (inner := _last_feature_map(layer)):
            return [layer, *inner]
        if _feature_map_rank(layer) == 4:
            return [layer]
    return []


def _search(model: keras.Model, name: str) -> list[keras.Layer]:
    for layer in model.layers:
        if layer.name == name:
            return [layer]
    for layer in model.layers:
        if isinstance(layer, keras.Model) and (inner := _search(layer, name)):
            return [layer, *inner]
    return []


def _feature_map_names(model: keras.Model) -> list[str]:
    names = []
    for layer in model.layers:
        if _feature_map_rank(layer) == 4:
            names.append(layer.name)
        if isinstance(layer, keras.Model):
            names.extend(_feature_map_names(layer))
    return names


# ----------------------------------------------------------------------------- compiled explainers


class _Explainer:
    """Compiled score and Grad-CAM functions for one model, built on first use and then reused."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.binary = model.outputs[0].shape[-1] == 1
        self.n_classes = 2 if self.binary else model.outputs[0].shape[-1]
        self.head, self.logits = _logit_head(model)
        body = keras.Model(model.inputs, self.head.input) if self.head else model
        self.scores = tf.function(
            lambda images: self._class_scores(body(images, training=False)), reduce_retracing=True
        )
        self._cams: dict[tuple[str, ...], Callable] = {}

    def class_indices(self, class_index: ClassIndex, count: int) -> tf.Tensor:
        """One class per image as int32, -1 where the default (pneumonia, or the predicted class) applies."""
        wanted = np.broadcast_to(np.asarray(-1 if class_index is None else class_index), (count,))
        if class_index is not None and not np.all((wanted >= 0) & (wanted < self.n_classes)):
            raise ValueError(f"class_index must lie in 0..{self.n_classes - 1}, got {class_index!r}.")
        return tf.constant(wanted, tf.int32)

    def default_classes(self, scores: tf.Tensor) -> tf.Tensor:
        if self.binary:
            return tf.ones(tf.shape(scores)[:1], tf.int32)
        return tf.argmax(scores, axis=-1, output_type=tf.int32)

    def grad_cam(self, path: list[keras.Layer], images: tf.Tensor, class_index: tf.Tensor) -> tf.Tensor:
        key = tuple(layer.name for layer in path)
        if key not in self._cams:
            self._cams[key] = tf.function(self._cam_function(path), reduce_retracing=True)
        return self._cams[key](images, class_index)

    def _cam_function(self, path: list[keras.Layer]) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
        forward = _forward(self.model, path, self.head)

        def cam(images: tf.Tensor, class_index: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(images)  # a frozen backbone has no watched variables of its own
                features, outputs = forward(images)
                scores = self._class_scores(outputs)
                chosen = tf.where(class_index < 0, self.default_classes(scores), class_index)
                target = tf.gather(scores, chosen, axis=1, batch_dims=1)
            features = tf.cast(features, tf.float32)
            weights = tf.reduce_mean(tf.cast(tape.gradient(target, features), tf.float32), axis=(1, 2))
            maps = tf.nn.relu(tf.einsum("nhwc,nc->nhw", features, weights))[..., tf.newaxis]
            maps = tf.image.resize(maps, tf.shape(images)[1:3], method="bilinear")[..., 0]
            return tf.math.divide_no_nan(maps, tf.reduce_max(maps, axis=(1, 2), keepdims=True))

        return cam

    def _class_scores(self, outputs: tf.Tensor) -> tf.Tensor:
        """``(N, classes)`` scores, logits when the head allows; a sigmoid's one unit becomes two classes."""
        scores = tf.cast(self.logits(outputs) if self.logits else outputs, tf.float32)
        if not self.binary:
            return scores
        return tf.concat([-scores if self.logits else 1 - scores, scores], axis=-1)


def _explainer(model: keras.Model) -> _Explainer:
    """The cached explainer of ``model`` (the model is kept alive while cached, so its id stays its own)."""
    key = id(model)
    if key in _CACHE:
        _CACHE.move_to_end(key)
    else:
        _CACHE[key] = (model, _Explainer(model))
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return _CACHE[key][1]


def _logit_head(model: keras.Model) -> tuple[keras.Layer | None, Callable[[tf.Tensor], tf.Tensor] | None]:
    """The output layer and the function from its input to the logits, when the output is squashed.

    The output layer is a sigmoid/softmax ``Dense`` or ``Activation``, or a
    ``Sequential`` head ending in one (a transfer model's dropout and dense
    layer); its earlier layers are run as at inference. Otherwise, and when
    the layer's recorded output is not the model's (a sub-model called in
    several graphs, as right after training), there is none.
    """
    head = model.layers[-1]
    if head.output is not model.outputs[0]:
        return None, None
    if isinstance(head, keras.Sequential) and head.layers:
        *before, last = head.layers
        logits = _pre_activation(last)
        if logits is None:
            return None, None

        def head_logits(inputs: tf.Tensor) -> tf.Tensor:
            for layer in before:
                inputs = layer(inputs, training=False)
            return logits(inputs)

        return head, head_logits
    logits = _pre_activation(head)
    return (head, logits) if logits else (None, None)


def _pre_activation(layer: keras.Layer) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """The function from the input of a sigmoid/softmax ``Dense`` or ``Activation`` to its logits, or None."""
    if getattr(layer, "activation", None) not in _SQUASHING:
        return None
    if isinstance(layer, keras.layers.Activation):
        return lambda inputs: inputs
    if isinstance(layer, keras.layers.Dense) and layer.quantization_mode is None:

        def dense_logits(inputs: tf.Tensor) -> tf.Tensor:
            logits = keras.ops.matmul(inputs, layer.kernel)
            return logits + layer.bias if layer.use_bias else logits

        return dense_logits
    return None


def _forward(model: keras.Model, path: list[keras.Layer], stop: keras.Layer | None = None) -> Forward:
    """A function ``images -> (feature map of path[-1], output of model, or input of its layer ``stop``)``."""
    # A nested layer's tensor belongs to its sub-model's own graph, so it cannot be an
    # output of a keras.Model built on the outer inputs. Instead the forward pass is replayed:
    # the sub-model holding the layer is split into a two-output model
    # inputs -> (feature map, output) built from its own graph, and the outer layers
    # around it are called in order, which needs the outer model to be a plain chain
    # (input, optional gray-to-RGB and preprocessing, backbone, pooling, head: what
    # transfer models are). A top-level layer uses the same two-output split directly,
    # so any graph shape works there. Layers are only ever called on real tensors, never
    # on symbolic ones, so the user's model gains no graph nodes.
    target, rest = path[0], path[1:]
    if not rest and not isinstance(target, keras.Model):
        split = keras.Model(model.inputs, [target.output, stop.input if stop else model.outputs[0]])
        return lambda images: tuple(split(images, training=False))
    layers = _chain(model)
    inner = _forward(target, rest) if rest else _both(target)

    def forward(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        features, x = None, images
        for layer in layers:
            if layer is stop:
                break
            if layer is target:
                features, x = inner(x)
            else:
                x = layer(x, training=False)
        return features, x

    return forward


def _both(model: keras.Model) -> Forward:
    """A sub-model whose own output is the feature map."""

    def forward(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        outputs = model(images, training=False)
        return outputs, outputs

    return forward


def _chain(model: keras.Model) -> list[keras.Layer]:
    """The layers of ``model`` in order, to be called one after another.

    Refused unless the model has one input and one output and each layer takes one tensor.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if isinstance(model, keras.Sequential):
        return layers
    if len(model.inputs) != 1 or len(model.outputs) != 1 or any(
        isinstance(layer.input, list | tuple | dict) for layer in layers
    ):
        raise ValueError(
            f"Model {model.name!r} is not a plain chain of layers, so a layer inside its sub-model cannot be "
            "reached; pass layer= a top-level layer with a 4-D output."
        )
    return layers


def _starts(length: int, patch: int, stride: int) -> list[int]:
    """Patch positions along one side, the last one flush with the edge."""
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


def _display_rgb(image: np.ndarray | tf.Tensor) -> np.ndarray:
    """An image as float RGB in [0, 1] for display: integers by their dtype's range, floats as 0-255."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"Expected a gray or RGB image, got shape {image.shape}.")
    rgb = preprocess.with_channels(preprocess.to_working_scale(image), 3).numpy() / 255.0
    return np.clip(rgb, 0, 1)
