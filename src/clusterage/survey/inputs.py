"""What the CNN sees: channels, occlusion masks, normalisation and augmentation (docs/method.md).

All functions work on whole stacks ``(N, H, W, C)`` at once; none loops over clusters or filters.
"""

from __future__ import annotations

import numpy as np

from clusterage.grid import CHANNELS, MASKS


def select_channels(images: np.ndarray, channels: str) -> np.ndarray:
    """``five_band`` keeps the 5 filters; ``white_light`` is their mean, before any normalisation."""
    if channels == "five_band":
        return images
    if channels == "white_light":
        return images.mean(axis=-1, keepdims=True, dtype=np.float32)
    raise ValueError(f"unknown channels {channels!r}; expected one of {CHANNELS}")


def visible_mask(size: int, mask: str, diameter) -> np.ndarray:
    """Boolean map of the pixels the CNN may see: ``(size, size)`` for one diameter, or
    ``(N, size, size)`` for one diameter per cutout (an array, e.g. a mask in parsecs).

    Centred on pixel (size/2, size/2) (0-based row, col), where the cutout puts the cluster.
    ``inner`` hides distance <= D/2 (the cluster), ``outer`` hides distance > D/2 (the field);
    D = 0 or mask ``none`` hides nothing.
    """
    if mask not in MASKS:
        raise ValueError(f"unknown mask {mask!r}; expected one of {MASKS}")
    d = np.asarray(diameter, dtype=float)
    if np.any(d < 0):
        raise ValueError(f"mask diameter must be >= 0, got {d.min()}")
    centre = size // 2
    yy, xx = np.ogrid[:size, :size]
    r2 = ((yy - centre) ** 2 + (xx - centre) ** 2).astype(float)
    if mask == "none":
        d = np.zeros_like(d)
    inside = r2 <= ((d / 2.0) ** 2)[..., None, None]
    visible = ~inside if mask == "inner" else inside
    return visible | (d == 0)[..., None, None]


def normalise(images: np.ndarray, visible: np.ndarray, mode: str = "instance") -> np.ndarray:
    """Min-max scale each cutout to [0, 1] over its VISIBLE pixels, then zero the hidden ones.

    ``instance`` (paper): one min and one max over all channels of a cutout, which keeps the
    flux ratios between filters (the colours). ``channel``: one min and max per channel.
    The paper excludes masked pixels from the min/max; the authors' code did not (docs/method.md).
    A cutout with no dynamic range becomes all zeros instead of NaN.
    """
    images = np.asarray(images, dtype=np.float32)
    vis = visible[None, :, :, None] if visible.ndim == 2 else visible[:, :, :, None]
    axes = (1, 2, 3) if mode == "instance" else (1, 2) if mode == "channel" else None
    if axes is None:
        raise ValueError(f"unknown normalisation {mode!r}; expected 'instance' or 'channel'")
    lo = np.where(vis, images, np.inf).min(axis=axes, keepdims=True)
    hi = np.where(vis, images, -np.inf).max(axis=axes, keepdims=True)
    span = hi - lo
    scale = np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)
    out = (images - lo) * scale
    return np.where(vis, out, np.float32(0.0)).astype(np.float32, copy=False)


def prepare(images: np.ndarray, channels: str, mask: str, diameter,
            normalisation: str = "instance") -> np.ndarray:
    """Raw 5-filter cutouts -> the network input of one experiment setting.

    ``diameter``: one number for every cutout, or one per cutout (masks in parsecs)."""
    return mask_and_normalise(select_channels(images, channels), mask, diameter, normalisation)


def mask_and_normalise(x: np.ndarray, mask: str, diameter,
                       normalisation: str = "instance") -> np.ndarray:
    """Cutouts whose channels are already selected (five raw filters, or the white-light view)
    -> the network input: the second half of :func:`prepare`."""
    return normalise(x, visible_mask(x.shape[1], mask, diameter), normalisation)


def augment(x: np.ndarray, y: np.ndarray, rotations: int = 4, flips: bool = False):
    """Train-set augmentation: copies rotated by 90 degree steps (and optionally flipped).

    Rotation about the array centre keeps a centred circular mask centred only when the
    centre is the array's geometric centre; with an even size the cluster pixel (size/2)
    moves by one pixel under rotation, as it did in the paper's pipeline (np.rot90).
    """
    if rotations not in (1, 2, 4):
        raise ValueError(f"rotations must be 1, 2 or 4, got {rotations}")
    step = 4 // rotations
    xs = [np.rot90(x, k=k, axes=(1, 2)) for k in range(0, 4, step)]
    if flips:
        xs += [a[:, :, ::-1] for a in xs]
    n = len(xs)
    return np.concatenate(xs, axis=0), np.tile(y, n)
