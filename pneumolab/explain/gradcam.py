"""Grad-CAM: which regions of an image raised the model's class score.

Used by the explainability notebook, the panel and prediction, so every
function takes a model exactly as trained (float32 input on a 0-255 scale,
sigmoid or softmax output) and returns plain NumPy arrays.

:func:`grad_cam` (Selvaraju et al. 2017) works from the last convolutional
feature map, which it finds on its own, inside a transfer model's backbone
too (or any layer named, see :func:`feature_layer`). Each model's compiled
score and Grad-CAM functions (:class:`Explainer`) are built once and reused.

Scores are the pre-activation logits when the last layer is a ``Dense`` or
``Activation`` ending in sigmoid or softmax, or a ``Sequential`` head ending
in one (the transfer model's), as in the paper: a confident prediction
saturates a float32 sigmoid to exactly 1.0, whose gradient is 0.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from pneumolab.explain._graph import feature_path, forward_pass

ClassIndex = int | Sequence[int] | None

#: Models whose compiled explainers are kept; a notebook rarely juggles more.
_CACHE_SIZE = 4
_CACHE: weakref.WeakKeyDictionary[keras.Model, Explainer] = weakref.WeakKeyDictionary()
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
    explainer = explainer_for(model)
    path = feature_path(model, layer)
    maps = explainer.grad_cam(path, batch, explainer.class_indices(class_index, batch.shape[0])).numpy()
    return maps[0] if single else maps


def feature_layer(model: keras.Model, layer: str | None = None) -> tuple[str, tuple[int, ...]]:
    """The layer :func:`grad_cam` works on, as a path like ``"tuned_stages/head_relu"``, and its output shape.

    With ``layer=None``, the one found automatically (the last 4-D output before
    global pooling); a name checks that ``layer`` can be used. The shape
    ``(H, W, channels)`` says how coarse the maps are: one cell of an
    ``H x W`` grid is stretched over ``image size / H`` pixels.
    """
    path = feature_path(model, layer)
    return "/".join(step.name for step in path), tuple(path[-1].output.shape[1:])


class Explainer:
    """Compiled score and Grad-CAM functions for one model, built on first use and then reused."""

    def __init__(self, model: keras.Model):
        self._model = weakref.ref(model)  # held weakly, so the cache entry goes with the model
        self.binary = model.outputs[0].shape[-1] == 1
        self.n_classes = 2 if self.binary else model.outputs[0].shape[-1]
        self.head, self.logits = _logit_head(model)
        body = keras.Model(model.inputs, self.head.input if self.head else model.outputs[0])
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
        forward = forward_pass(self._model(), path, self.head)

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


def explainer_for(model: keras.Model) -> Explainer:
    """The explainer of ``model``, compiled on first use and reused while the model lives.

    Keyed by the model object itself, weakly: not by ``id(model)``, a number
    Python hands to a new object once the model is collected. An explainer
    holds its model weakly too (its compiled functions hold only the layers),
    so an entry goes when its model does; at most :data:`_CACHE_SIZE` are kept,
    the least recently used going first.
    """
    explainer = _CACHE.pop(model, None) or Explainer(model)
    _CACHE[model] = explainer  # (re)inserted last: the dictionary's order is the order of use
    while len(_CACHE) > _CACHE_SIZE:
        del _CACHE[next(iter(_CACHE))]
    return explainer


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
