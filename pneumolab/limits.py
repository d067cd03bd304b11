"""The ranges of the kit's numeric settings, checked before any work starts.

TensorFlow-free: ``pneumolab`` checks its arguments with these (as argparse
types) in a fraction of a second, before TensorFlow loads, and
:class:`pneumolab.training.config.TrainConfig` refuses the same values in the same words.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

#: Smallest square input each architecture can be built at. The scratch CNN halves the image in its stem
#: (rounding up) and then three times in its pools (rounding down): 15 px leave 1 x 1 for the last block.
#: EfficientNet-Lite0 (fine-tuned or probed) needs 32 px (pneumolab.models.backbones.MIN_SIZE).
MIN_IMAGE_SIZE = {"scratch": 15, "transfer": 32, "probe": 32}


def check_image_size(arch: str, image_size: int) -> None:
    """Refuse an input size the architecture ``arch`` cannot be built at, naming the smallest that works."""
    smallest = MIN_IMAGE_SIZE.get(arch)
    if smallest is not None and image_size < smallest:
        raise ValueError(f"--image-size must be at least {smallest} for the {arch} model "
                         f"(its layers shrink the image {smallest - 1} px to nothing), got {image_size}.")


def check_epochs(epochs: int) -> None:
    """Refuse a training run with no epoch in it."""
    if epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}.")


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``, refused with the range otherwise."""
    allowed = f"a whole number of at least {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (allowed: {allowed})") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {allowed})")
        return value

    return parse


def probability(text: str) -> float:
    """An argparse type: a number from 0 to 1 (a decision threshold)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (allowed: 0 to 1)") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"{text} is out of range (allowed: 0 to 1)")
    return value


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float in [0, 1] (both ends can be chosen on validation), or a ``ValueError``."""
    threshold = float(threshold)
    if not 0 <= threshold <= 1:
        raise ValueError(f"A threshold must lie between 0 and 1, got {threshold}.")
    return threshold


def port(text: str) -> int:
    """A TCP port number for argparse (``pneumolab panel --port``): a whole number from 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (1-65535)")
    return port


def json_path(text: str) -> str:
    """An argparse type for ``--json PATH``: ``-`` (stdout) or a file name ending in ``.json``.

    Refusing other names keeps ``pneumolab predict --json a.png b.png`` from writing over an image.
    """
    if text != "-" and not text.lower().endswith(".json"):
        raise argparse.ArgumentTypeError(
            f"{text!r} does not end in .json (write --json alone, after the other arguments, for stdout)")
    return text
