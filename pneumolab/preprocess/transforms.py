"""Image transforms shared by training, evaluation, the panel and the lessons.

One code path: the pipeline, ``pneumolab predict`` and the panel all call
:func:`decode` then :func:`to_model_input`, so a model always sees its input
prepared exactly as in training.

Shapes: any size, 1, 2, 3 or 4 channels (an alpha channel is dropped); a 2-D
or 3-D array is one image, a 4-D array a batch, and outputs keep that layout.

Scales: raw images enter through :func:`to_0_255` or :func:`to_model_input`,
which read integers by their dtype's range (uint8 as is, uint16 divided by
257), bool as 0/255, and floats as 0-1, the convention of scikit-image and
matplotlib for raw images. They return float32 on 0-255, the kit's *working
scale*. Every other transform takes images on the working scale (integers
read as above, floats as 0-255, clipped), so transforms chain:
``clahe(to_0_255(raw))`` then :func:`close_open`, then
:func:`standardize_per_image`, and a pipeline's batches go straight in.

Three kinds of transform:

- tensor transforms (:func:`to_model_input`, :func:`scale_0_1`,
  :func:`standardize_per_image`, :func:`backbone_normalize`) return a
  ``tf.Tensor`` and also run inside a ``tf.data`` pipeline;
- scikit-image contrast and morphology transforms (:func:`equalize_histogram`,
  :func:`clahe`, :func:`close_open`) return a float32 NumPy array on 0-255;
  :func:`in_graph` lets a pipeline call them;
- :func:`augmentation`, a ``keras.Sequential`` of random layers for training batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from skimage import exposure, morphology

from pneumolab.data.reader import read_image
from pneumolab.models.card import Fit


def decode(contents: bytes | tf.Tensor, channels: int = 1) -> tf.Tensor:
    """JPEG, PNG or DICOM bytes to uint8 ``(H, W, channels)`` with the kit's one reader.

    The reader (:func:`pneumolab.data.reader.read_image`) is the one training, the
    panel and ``pneumolab predict`` use: upright, 16-bit files scaled by the
    bits they use, CMYK as gray. Works eagerly and inside a ``tf.data`` map.
    """

    def read(payload: bytes | np.ndarray) -> np.ndarray:
        if isinstance(payload, np.ndarray):  # eagerly, a tensor's bytes arrive as a 0-d object array
            payload = payload.item()
        return read_image(payload, channels=channels)

    image = tf.numpy_function(read, [contents], tf.uint8, stateful=False)
    image.set_shape((None, None, channels))
    return image


def to_0_255(image: np.ndarray | tf.Tensor) -> tf.Tensor:
    """A raw image of any dtype as float32 on the 0-255 working scale (floats are read as 0-1)."""
    image = tf.convert_to_tensor(image)
    if image.dtype == tf.bool:
        return tf.cast(image, tf.float32) * 255.0
    if image.dtype.is_integer:
        return tf.cast(image, tf.float32) * (255.0 / image.dtype.max)
    return tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 1.0) * 255.0


def with_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """Convert a 2-D, 3-D or 4-D image to ``channels`` (1 = gray, 3 = RGB); alpha is dropped."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        image = image[..., tf.newaxis]
    if image.shape.rank not in (3, 4):
        raise ValueError(f"Expected an image of rank 2, 3 or 4, got shape {image.shape}.")
    have = image.shape[-1]
    if have in (2, 4):  # gray + alpha, RGB + alpha
        image = image[..., : have - 1]
        have -= 1
    if have == channels:
        return image
    if have == 1:
        return tf.repeat(image, 3, axis=-1)
    if have == 3:
        return tf.cast(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32)), image.dtype)
    raise ValueError(f"Cannot read an image with {have} channels.")


def resize(image: tf.Tensor, size: int | tuple[int, int], fit: Fit = "squash") -> tf.Tensor:
    """Resize to ``size``: ``squash`` stretches to fill, ``pad`` keeps the aspect ratio with black bars.

    Anti-aliasing keeps thin structures (ribs, markers) from turning into
    moiré when a 2000-pixel original shrinks to 128.
    """
    height, width = (size, size) if isinstance(size, int) else size
    image = tf.cast(image, tf.float32)
    if fit == "squash":
        return tf.image.resize(image, (height, width), antialias=True)
    if fit == "pad":
        return tf.image.resize_with_pad(image, height, width, antialias=True)
    raise ValueError(f"fit must be 'squash' or 'pad', got {fit!r}.")


def to_model_input(
    image: np.ndarray | tf.Tensor,
    size: int | tuple[int, int] = 128,
    channels: int = 1,
    fit: Fit = "squash",
) -> tf.Tensor:
    """Any decoded image (or batch) to float32 ``(size, size, channels)`` on a 0-255 scale."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        image = image[..., tf.newaxis]
    empty = any(side is not None and side < 1 for side in image.shape[-3:-1])
    if image.shape.rank not in (3, 4) or empty:
        raise ValueError(f"Expected an image of shape (H, W), (H, W, C) or (N, H, W, C), got {image.shape}.")
    return resize(with_channels(to_0_255(image), channels), size, fit)


def to_working_scale(image: np.ndarray | tf.Tensor) -> tf.Tensor:
    """Float32 on the working scale (floats read as 0-255), alpha dropped; refuses what is not an image."""
    image = tf.convert_to_tensor(image)
    shape = image.shape
    if shape.rank not in (2, 3, 4) or any(side is not None and side < 1 for side in shape):
        raise ValueError(f"Expected an image of shape (H, W), (H, W, C) or (N, H, W, C), got {shape}.")
    channels = shape[-1] if shape.rank > 2 else 1
    if channels in (2, 4):
        image = image[..., : channels - 1]
    elif channels not in (None, 1, 3):
        raise ValueError(f"Cannot read an image with {channels} channels.")
    if image.dtype.is_floating:
        return tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 255.0)
    return to_0_255(image)


def scale_0_1(image: np.ndarray | tf.Tensor) -> tf.Tensor:
    """Float32 on 0-1: the simplest normalization, what a network trained from scratch usually gets."""
    return to_working_scale(image) / 255.0


def standardize_per_image(image: np.ndarray | tf.Tensor, min_std: float = 1.0) -> tf.Tensor:
    """Each image shifted to mean 0 and scaled to standard deviation 1 (over its pixels and channels).

    Removes differences in overall exposure and contrast between machines.
    ``min_std`` (on the 0-255 scale) stops a flat image from being blown up:
    an image varying by less than one grey level is only centred, and a
    constant image becomes all zeros, never NaN.
    """
    image = to_working_scale(image)
    rank = image.shape.rank
    axes = list(range(1 if rank == 4 else 0, rank))
    mean = tf.reduce_mean(image, axis=axes, keepdims=True)
    std = tf.math.reduce_std(image, axis=axes, keepdims=True)
    return (image - mean) / tf.maximum(std, min_std)


def backbone_normalize(
    image: np.ndarray | tf.Tensor,
    mean: float | Sequence[float] = 127.0,
    std: float | Sequence[float] = 128.0,
) -> tf.Tensor:
    """``(x - mean) / std`` on the 0-255 scale: the input a pretrained backbone was trained on.

    The defaults are EfficientNet-Lite0's (about -1 to 1). A per-channel
    ``mean`` and ``std`` (three values each) need an RGB image, e.g. the
    ImageNet statistics that torchvision models use.
    """
    return (to_working_scale(image) - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def _per_plane(transform: Callable[[np.ndarray], np.ndarray], image: np.ndarray | tf.Tensor) -> np.ndarray:
    """Apply a 2-D, 0-1 float transform to every channel of every image; constant planes pass unchanged.

    A plane with a single grey level has nothing to equalize or clean, and
    scikit-image would otherwise turn it into an arbitrary grey or white.
    """
    array = to_working_scale(image).numpy() / 255.0
    height, width = array.shape[-3:-1] if array.ndim > 2 else array.shape
    planes = array.reshape(-1, height, width, 1 if array.ndim == 2 else array.shape[-1])
    result = planes.copy()
    for index in np.ndindex(planes.shape[0], planes.shape[-1]):
        plane = planes[index[0], ..., index[1]]
        if plane.max() > plane.min():
            result[index[0], ..., index[1]] = transform(plane)
    return (np.clip(result, 0.0, 1.0) * 255.0).astype(np.float32).reshape(array.shape)


def equalize_histogram(image: np.ndarray | tf.Tensor, bins: int = 256) -> np.ndarray:
    """Global histogram equalization: spreads grey levels so every level is about equally common.

    Makes faint differences visible on a dark or washed-out film, but also
    amplifies noise and the (uninformative) background.
    """
    return _per_plane(functools.partial(exposure.equalize_hist, nbins=bins), image)


def clahe(
    image: np.ndarray | tf.Tensor, clip_limit: float = 0.01, kernel_size: int | None = None
) -> np.ndarray:
    """Contrast Limited Adaptive Histogram Equalization (CLAHE), region by region.

    Equalizes in tiles (``kernel_size`` pixels, by default 1/8 of each side),
    clipping each tile's histogram at ``clip_limit`` so noise in flat regions
    is not amplified the way global equalization does. The usual choice for
    radiographs: local detail in both the dense mediastinum and the lungs.
    """
    return _per_plane(
        functools.partial(exposure.equalize_adapthist, clip_limit=clip_limit, kernel_size=kernel_size), image
    )


def close_open(image: np.ndarray | tf.Tensor, radius: int = 2) -> np.ndarray:
    """Grey-level morphological closing, then opening, with a disk of ``radius`` pixels.

    Closing fills dark specks smaller than the disk, opening then removes
    bright ones: a denoiser that keeps edges sharper than a blur does. The
    radius is in pixels, so scale it with the image size (2 suits 224 px).
    """
    if radius < 0:
        raise ValueError(f"radius must be 0 or more, got {radius}.")
    footprint = morphology.disk(radius)

    def clean(plane: np.ndarray) -> np.ndarray:
        return morphology.opening(morphology.closing(plane, footprint), footprint)

    return _per_plane(clean, image)


def in_graph(transform: Callable[..., np.ndarray], **options) -> Callable[[tf.Tensor], tf.Tensor]:
    """Wrap a NumPy transform (e.g. :func:`clahe`) so a ``tf.data`` pipeline can call it.

    ``make_dataset(frame, augment=in_graph(clahe, clip_limit=0.02))`` applies
    CLAHE to every batch. It runs in Python (one batch at a time) and again
    every epoch. Takes and keeps 1- or 3-channel tensors on the working scale,
    as the pipeline makes them.
    """
    bound = functools.partial(transform, **options)

    def apply(images: tf.Tensor) -> tf.Tensor:
        result = tf.numpy_function(bound, [images], tf.float32, stateful=False)
        result.set_shape(images.shape)
        return result

    return apply


#: Ranges of :func:`augmentation` at ``strength=1``: mild, as chest films vary in practice.
AUGMENTATION_RANGES = dict(
    rotation_degrees=5.0,   # patient not quite straight
    zoom=0.10,              # distance to the detector
    translation=0.05,       # centring
    shear=0.05,             # slight tilt of the tube or the patient
    contrast=0.10,          # exposure
)


def augmentation(flip: bool = False, strength: float = 1.0, seed: int | None = None) -> keras.Sequential:
    """Random rotation, zoom, translation, shear and contrast for batches ``(N, H, W, C)`` on 0-255.

    ``strength`` scales every range in :data:`AUGMENTATION_RANGES`
    (0 < strength <= 3). Areas moved in from outside the film are filled
    black, not mirrored, so no phantom anatomy appears at the edges.
    ``flip=True`` adds random left-right flips; off by default because a
    flipped chest puts the heart on the wrong side, which real patients
    almost never show.

    Call it on a batch (one image: ``augment(image[None])[0]``). Keras 3
    random layers augment by default, outside ``fit`` too and inside
    ``tf.data`` (``make_dataset(..., augment=augmentation())``), every call
    and every epoch differently; ``training=False`` passes images through.
    """
    if not 0 < strength <= 3:
        raise ValueError(f"strength must be in (0, 3], got {strength}.")
    factor = {name: value * strength for name, value in AUGMENTATION_RANGES.items()}
    fill = dict(fill_mode="constant", fill_value=0.0)

    def seeded(offset: int) -> int | None:
        return None if seed is None else seed + offset

    layers = [
        keras.layers.RandomRotation(factor["rotation_degrees"] / 360.0, seed=seeded(0), **fill),
        keras.layers.RandomZoom(factor["zoom"], seed=seeded(1), **fill),
        keras.layers.RandomTranslation(factor["translation"], factor["translation"], seed=seeded(2), **fill),
        keras.layers.RandomShear(factor["shear"], factor["shear"], seed=seeded(3), **fill),
        # last: it needs float input, which the geometric layers make of uint8
        keras.layers.RandomContrast(factor["contrast"], value_range=(0, 255), seed=seeded(4)),
    ]
    if flip:
        layers.insert(0, keras.layers.RandomFlip("horizontal", seed=seeded(5)))
    # An explicit batch input: a Sequential built on its first call would silently reshape later
    # calls of another rank; with this one, any batch size, image size and channel count works.
    return keras.Sequential([keras.Input(shape=(None, None, None)), *layers], name="augmentation")
