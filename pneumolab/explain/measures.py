"""Numbers read off saliency maps, for comparing them over a whole split.

:func:`border_share` is how much of a map's heat lies near the image's edges,
where side markers, burnt-in text and the film's borders are and the lungs are
not. Plain NumPy: no TensorFlow.
"""

from __future__ import annotations

import numpy as np


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
