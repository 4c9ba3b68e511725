"""Where in the cutout a trained model reads the age: summaries of attribution maps and
test-time occlusion (docs/attribution.md). The maps come from gradients.py; explain.py runs both
on a trained run.

- ``radial_profile``: cumulative fraction of |attribution| within radius r of the cluster pixel;
- ``radial_sum`` and ``spread_share``: the signed attribution within r, and the share of the
  predictions' spread over the test clusters that the pixels within r carry (additive methods);
- ``age_range_means``: mean |attribution| maps per age range (< 10, 10-100, > 100 Myr);
- ``occlusion_curve``: test-time occlusion, an unmasked model's scatter when inner / outer masks of each diameter
  are applied at inference only, built by ``clusterage.survey.inputs`` exactly as for training.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from clusterage.grid import ENVIRONMENT_DIAMETER_PX
from clusterage.metrics import scatter
from clusterage.survey import inputs

# (label, lower, upper) in log10(age / yr): < 10 Myr, 10-100 Myr, > 100 Myr.
AGE_RANGES = (("<10 Myr", -math.inf, 7.0), ("10-100 Myr", 7.0, 8.0), (">100 Myr", 8.0, math.inf))
METHODS = ("integrated_gradients", "smoothgrad")
METHOD_LABEL = {"integrated_gradients": "Integrated Gradients", "smoothgrad": "SmoothGrad"}
INNER_RADIUS = ENVIRONMENT_DIAMETER_PX // 2  # r = 12 px: what the environment case's mask hides
# Methods whose attributions add up to the prediction (completeness): their signed sums within r
# split each prediction into a part read within r and a part read beyond it.
ADDITIVE_METHODS = ("integrated_gradients",)
# Per-cluster radial quantities of profiles.csv: cumulative fraction of |attribution| within r,
# and, for additive methods, the cumulative signed attribution within r (dex).
PROFILE_QUANTITIES = ("abs_fraction", "signed_sum")


def pixel_radius(size: int) -> np.ndarray:
    """Distance (px) of each pixel from the cluster pixel (size//2, size//2), as the masks use."""
    centre = size // 2
    yy, xx = np.mgrid[:size, :size]
    return np.hypot(yy - centre, xx - centre)


def profile_radii(size: int) -> np.ndarray:
    """Integer radii 0, 1, ..., the first integer at or beyond the farthest pixel (80 for 112 px)."""
    return np.arange(int(math.ceil(pixel_radius(size).max())) + 1)


def radial_profile(maps: np.ndarray) -> np.ndarray:
    """Cumulative fraction of |attribution| (summed over channels) within radius r, per cluster.

    ``maps`` (N, H, W, C) -> (N, R) with R = len(profile_radii(H)); column r is the share of
    pixels at distance <= r, i.e. what an inner mask of diameter 2r would hide. The last column
    is 1. A cutout with no attribution at all gives NaN.
    """
    size = maps.shape[1]
    weight = np.abs(np.asarray(maps, np.float64)).sum(axis=-1).reshape(len(maps), -1)
    per_ring = _ring_sums(weight, size)
    total = per_ring.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.cumsum(per_ring, axis=1) / total


def _ring_sums(weight: np.ndarray, size: int) -> np.ndarray:
    """(N, H*W) per-pixel weights -> (N, R) sums over the pixels with ceil(distance) = r."""
    ring = np.ceil(pixel_radius(size)).astype(int).reshape(-1)  # d <= r  <=>  ceil(d) <= r
    onehot = np.zeros((ring.size, len(profile_radii(size))))
    onehot[np.arange(ring.size), ring] = 1.0
    return weight @ onehot


def radial_sum(maps: np.ndarray) -> np.ndarray:
    """Cumulative signed attribution (summed over channels) within radius r, per cluster.

    ``maps`` (N, H, W, C) -> (N, R), in the maps' units. For Integrated Gradients the last column
    is the prediction at the cutout minus the prediction at the baseline (completeness).
    """
    size = maps.shape[1]
    weight = np.asarray(maps, np.float64).sum(axis=-1).reshape(len(maps), -1)
    return np.cumsum(_ring_sums(weight, size), axis=1)


def spread_share(sums: np.ndarray) -> np.ndarray:
    """Share of the predictions' spread over clusters carried by the pixels within r.

    ``sums`` (N, R) from ``radial_sum`` of an additive attribution (Integrated Gradients): each
    cluster's prediction (less the baseline's) is S_R = S_r + (S_R - S_r), the part read within r
    plus the part read beyond it. Over the clusters, var(S_R) = cov(S_r, S_R) + cov(S_R - S_r, S_R),
    so cov(S_r, S_R) / var(S_R) is the share of the variance of the predictions that the pixels
    within r account for; it is 1 at the last radius and may leave [0, 1] where the two parts
    pull against each other. Unlike the |attribution| fraction it is blind to attribution that is
    the same for every cluster, or that cancels: only what moves the prediction from one cluster
    to the next counts. (R,) array; NaN for fewer than two clusters or predictions all alike.
    """
    sums = np.asarray(sums, np.float64)
    if len(sums) < 2:
        return np.full(sums.shape[1], np.nan)
    centred = sums - sums.mean(axis=0)
    total = centred[:, -1]
    var = total @ total
    if var == 0:
        return np.full(sums.shape[1], np.nan)
    return (centred.T @ total) / var


def age_range_index(log_age: np.ndarray) -> np.ndarray:
    """Index into AGE_RANGES of each cluster's true log age."""
    edges = [hi for _, _, hi in AGE_RANGES[:-1]]
    return np.searchsorted(edges, np.asarray(log_age, float), side="right")


def age_range_means(maps: np.ndarray, log_age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean |attribution| per age range: ((len(AGE_RANGES), H, W, C), counts); NaN when empty."""
    idx = age_range_index(log_age)
    a = np.abs(np.asarray(maps, np.float64))
    means = np.full((len(AGE_RANGES), *maps.shape[1:]), np.nan)
    counts = np.bincount(idx, minlength=len(AGE_RANGES))
    for k in np.flatnonzero(counts):  # three age ranges, not clusters
        means[k] = a[idx == k].mean(axis=0)
    return means.astype(np.float32), counts


OCCLUSION_COLUMNS = ["setting", "seed", "mask", "diameter", "scatter", "median_pred", "n"]


def occlusion_diameters(step: int = 2, max_diameter: int = 80) -> list[int]:
    if step < 1 or max_diameter < 0:
        raise ValueError(f"occlusion step must be >= 1 and max_diameter >= 0, got {step}, {max_diameter}")
    return list(range(0, max_diameter + 1, step))


def occlusion_curve(predict, raw_images: np.ndarray, log_age: np.ndarray, channels: str,
                        diameters, normalisation: str = "instance",
                        predictions: dict | None = None) -> pd.DataFrame:
    """Scatter of an unmasked model's predictions when masks are applied at inference only.

    ``predict`` maps network inputs to log ages; each (mask, diameter) input is built by
    ``inputs.prepare`` from the raw cutouts, as a model trained with that mask would see it.
    D = 0 (no mask) is one row per mask, the start of both curves. ``predictions``, if given,
    receives each cluster's predicted log age per (mask, diameter), for the intervals.
    """
    rows = []
    unmasked = None
    for mask in ("inner", "outer"):
        for d in diameters:
            if d == 0 and unmasked is not None:
                pred = unmasked
            else:
                pred = np.asarray(predict(inputs.prepare(raw_images, channels, mask, d,
                                                         normalisation))).reshape(-1)
                if d == 0:
                    unmasked = pred
            if predictions is not None:
                predictions[mask, int(d)] = pred
            rows.append({"mask": mask, "diameter": int(d), "scatter": scatter(pred, log_age),
                         "median_pred": float(np.median(pred)), "n": int(len(pred))})
    return pd.DataFrame(rows)
