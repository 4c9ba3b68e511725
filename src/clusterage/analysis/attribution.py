"""Where in the cutout a trained model reads the age: attributions, radial profiles and
test-time occlusion (docs/attribution.md).

- ``integrated_gradients``: Integrated Gradients (Sundararajan et al. 2017) from a baseline that
  is the all-zero input (what a hidden pixel is after normalisation) or a blurred copy of the
  input, trapezoid rule over ``steps`` intervals;
- ``smoothgrad``: SmoothGrad (Smilkov et al. 2017), the input gradient averaged over noisy copies;
- ``radial_profile``: cumulative fraction of |attribution| within radius r of the cluster pixel;
- ``radial_sum`` and ``spread_share``: the signed attribution within r, and the share of the
  predictions' spread over the test clusters that the pixels within r carry (additive methods);
- ``age_range_means``: mean |attribution| maps per age range (< 10, 10-100, > 100 Myr);
- ``occlusion_curve``: test-time occlusion, an unmasked model's scatter when inner / outer masks of each diameter
  are applied at inference only, built by ``clusterage.survey.inputs`` exactly as for training.

The work is batched over clusters: every gradient call takes ``batch_size`` path points of
several clusters at once, so no Python loop runs per cluster. Gradients come from one small
adapter per Keras backend (``gradient_function``): TensorFlow (tf.GradientTape), JAX (jax.grad
of the model's stateless call) and PyTorch (torch.autograd). PAIR's ``saliency`` package computes
the same quantities one image at a time; the test suite checks this module against it.

Attributions are taken with respect to the network input. Pixels a mask hides are constants
(zero) of the input pipeline, so their attribution is zero by definition: noise, baselines and
gradients are restricted to the visible pixels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterage.grid import ENVIRONMENT_DIAMETER_PX, Setting
from clusterage.metrics import scatter
from clusterage.survey import inputs

log = logging.getLogger(__name__)

BACKENDS = ("tensorflow", "jax", "torch")
BASELINES = ("zero", "blur")
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
SCHEMA_VERSION = 3


class UnsupportedBackend(RuntimeError):
    """The active Keras backend has no gradient adapter here."""


# --------------------------------------------------------------------------------------------
# Gradients, one thin adapter per backend


def gradient_function(model):
    """``f(x) -> (y, dy/dx)`` for a batch ``x`` (B, H, W, C) float32, as numpy arrays.

    ``y`` (B,) is the model's single output per image; each image's gradient is its own (the
    CNN has no layer that mixes a batch at inference), so one call returns B gradients.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_gradients(model)
    if backend == "jax":
        return _jax_gradients(model)
    if backend == "torch":
        return _torch_gradients(model)
    raise UnsupportedBackend(
        f"attributions need input gradients, which clusterage computes for the Keras backends "
        f"{', '.join(BACKENDS)}; the active backend is {backend!r} (set KERAS_BACKEND or "
        f"'keras_backend' in the config)")


def _tensorflow_gradients(model):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)])
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(model(x, training=False)[:, 0], tf.float32)
        return y, tape.gradient(y, x)

    def run(x):
        y, g = step(tf.convert_to_tensor(x, tf.float32))
        return y.numpy(), g.numpy()

    return run


def _jax_gradients(model):
    import jax
    import jax.numpy as jnp

    def total(trainable, non_trainable, x):
        y, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        y = y[:, 0].astype(jnp.float32)
        return y.sum(), y

    step = jax.jit(jax.grad(total, argnums=2, has_aux=True))

    def run(x):
        # The variables' current values, read per call: Keras replaces (and frees) them when
        # the model trains or predicts in between.
        g, y = step([v.value for v in model.trainable_variables],
                    [v.value for v in model.non_trainable_variables], jnp.asarray(x, jnp.float32))
        return np.asarray(y), np.asarray(g)

    return run


def _torch_gradients(model):
    import keras
    import torch

    def run(x):
        xt = keras.ops.convert_to_tensor(np.asarray(x, np.float32)).detach().requires_grad_(True)
        y = model(xt, training=False)[:, 0].float()
        (g,) = torch.autograd.grad(y.sum(), xt)
        return y.detach().cpu().numpy(), g.detach().cpu().numpy()

    return run


# --------------------------------------------------------------------------------------------
# Integrated Gradients and SmoothGrad, batched over clusters


@dataclass
class IGResult:
    """Attributions (N, H, W, C) and the model outputs at the input and at the baseline."""

    attributions: np.ndarray
    output: np.ndarray
    baseline_output: np.ndarray

    @property
    def completeness_error(self) -> np.ndarray:
        """sum(attributions) - (f(x) - f(baseline)) per cluster; 0 for the exact integral."""
        total = self.attributions.reshape(len(self.attributions), -1).sum(axis=1, dtype=np.float64)
        return total - (self.output.astype(np.float64) - self.baseline_output)


def _flat_chunks(n_items: int, n_points: int, batch_size: int):
    """(start, stop) of flat (cluster, point) indices, batch_size at a time, cluster-major."""
    total = n_items * n_points
    for start in range(0, total, batch_size):
        yield start, min(start + batch_size, total)


def _pad(batch: np.ndarray, size: int) -> np.ndarray:
    """Pad a short last batch to the call's fixed size, so compiled functions see one shape."""
    if len(batch) == size:
        return batch
    pad = np.zeros((size - len(batch), *batch.shape[1:]), batch.dtype)
    return np.concatenate([batch, pad])


def path_integral(grad, x: np.ndarray, baseline: np.ndarray, alphas, weights,
                  batch_size: int = 256) -> IGResult:
    """sum_k w_k * grad(b + a_k (x - b)) * (x - b), for every cluster, batched.

    ``alphas`` and ``weights`` are the quadrature of the integral over [0, 1]. Path points of
    consecutive clusters share gradient calls of ``batch_size`` images. The outputs at alpha 0
    and 1 are taken from the path when it contains them, else computed.
    """
    x = np.asarray(x, np.float32)
    baseline = np.asarray(baseline, np.float32)
    if x.shape != baseline.shape:
        raise ValueError(f"input {x.shape} and baseline {baseline.shape} differ in shape")
    alphas = np.asarray(alphas, np.float32)
    weights = np.asarray(weights, np.float64)
    n, m = len(x), len(alphas)
    diff = x - baseline
    sums = np.zeros(x.shape, np.float64)
    outputs = np.full((n, m), np.nan, np.float64)
    batch_size = max(1, min(batch_size, n * m))
    for start, stop in _flat_chunks(n, m, batch_size):
        flat = np.arange(start, stop)
        c, k = flat // m, flat % m
        points = baseline[c] + alphas[k, None, None, None] * diff[c]
        y, g = grad(_pad(points, batch_size))
        y, g = y[: len(flat)], g[: len(flat)]
        outputs[c, k] = y
        weighted = g.astype(np.float64) * weights[k, None, None, None]
        # Flat indices are cluster-major: sum each cluster's run of rows at once.
        first = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        sums[c[first]] += np.add.reduceat(weighted, first, axis=0)
    attributions = (diff * sums).astype(np.float32)
    f_x = outputs[:, -1] if alphas[-1] == 1 else _outputs(grad, x, batch_size)
    f_b = outputs[:, 0] if alphas[0] == 0 else _outputs(grad, baseline, batch_size)
    return IGResult(attributions, f_x, f_b)


def _outputs(grad, x, batch_size):
    batch_size = max(1, min(batch_size, len(x)))
    out = [grad(_pad(x[s:s + batch_size], batch_size))[0][: len(x[s:s + batch_size])]
           for s in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64)


def trapezoid(steps: int):
    """Points and weights of the trapezoid rule with ``steps`` intervals on [0, 1]."""
    if steps < 1:
        raise ValueError(f"Integrated Gradients needs at least 1 step, got {steps}")
    alphas = np.linspace(0.0, 1.0, steps + 1)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] /= 2
    return alphas, weights


def gaussian_blur(x: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur of (N, H, W, C) over H and W, reflecting at the edges."""
    x = np.asarray(x, np.float32)
    if sigma_px <= 0:
        return x.copy()
    radius = int(4 * sigma_px + 0.5)
    if radius >= min(x.shape[1:3]):
        raise ValueError(f"blur sigma {sigma_px} px is too wide for a {x.shape[1]}-pixel cutout")
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma_px) ** 2)
    kernel /= kernel.sum()
    out = x
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        size = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + size), axis=axis) for i, w in enumerate(kernel))
    return out.astype(np.float32)


def visible4(visible: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """The model's mask as a float32 (N, H, W, 1) view for ``x`` (N, H, W, C): ``visible`` is
    one (H, W) map for every cutout, or one per cutout (N, H, W) for a mask in parsecs; None:
    every pixel visible."""
    n, h, w = x.shape[:3]
    if visible is None:
        return np.ones((1, 1, 1, 1), np.float32)
    vis = np.asarray(visible, bool)
    if vis.shape not in ((h, w), (n, h, w)):
        raise ValueError(f"visible mask {vis.shape} fits neither one cutout ({h}, {w}) nor each "
                         f"of the {n} cutouts")
    vis = vis[None] if vis.ndim == 2 else vis
    return np.broadcast_to(vis[..., None].astype(np.float32), (n, h, w, 1))


def make_baseline(x: np.ndarray, kind: str = "zero", visible: np.ndarray | None = None,
                  blur_sigma_px: float = 5.0) -> np.ndarray:
    """The IG baseline: 'zero' (every pixel as if hidden) or 'blur' (a blurred copy of x)."""
    if kind == "zero":
        return np.zeros_like(x, dtype=np.float32)
    if kind == "blur":
        base = gaussian_blur(x, blur_sigma_px)
        return base if visible is None else base * visible4(visible, base)
    raise ValueError(f"unknown baseline {kind!r}; expected one of {BASELINES}")


def integrated_gradients(model, x: np.ndarray, *, steps: int = 64, baseline: str = "zero",
                         visible: np.ndarray | None = None, blur_sigma_px: float = 5.0,
                         batch_size: int = 256, grad=None) -> IGResult:
    """Integrated Gradients of the model's output for every cutout of ``x`` (N, H, W, C).

    The sum of a cutout's attributions equals f(x) - f(baseline) up to the quadrature error
    (``IGResult.completeness_error``). ``visible`` (H, W), or (N, H, W) with one mask per
    cutout, is the model's mask: hidden pixels are equal in x and baseline, so their attribution
    is exactly zero.
    """
    grad = grad or gradient_function(model)
    base = make_baseline(x, baseline, visible, blur_sigma_px)
    alphas, weights = trapezoid(steps)
    return path_integral(grad, x, base, alphas, weights, batch_size)


def smoothgrad(model, x: np.ndarray, *, samples: int = 16, noise: float = 0.15,
               visible: np.ndarray | None = None, seed: int = 0, batch_size: int = 256,
               grad=None) -> np.ndarray:
    """SmoothGrad: the input gradient averaged over ``samples`` noisy copies of each cutout.

    The noise is Gaussian with standard deviation ``noise`` x (max - min) of the cutout, on the
    visible pixels only; gradients on hidden pixels are zero (those pixels are constants of
    the input; ``visible`` as for ``integrated_gradients``). Draws come from one generator in
    cluster-major order, so the result does not depend on ``batch_size``.
    """
    if samples < 1:
        raise ValueError(f"SmoothGrad needs at least 1 sample, got {samples}")
    grad = grad or gradient_function(model)
    x = np.asarray(x, np.float32)
    n = len(x)
    vis4 = np.broadcast_to(visible4(visible, x), (n, *x.shape[1:3], 1))
    flat_x = x.reshape(n, -1)
    stdev = noise * (flat_x.max(axis=1) - flat_x.min(axis=1)) if x.size else np.zeros(0)
    rng = np.random.default_rng(seed)
    sums = np.zeros(x.shape, np.float64)
    batch_size = max(1, min(batch_size, n * samples))
    for start, stop in _flat_chunks(n, samples, batch_size):
        c = np.arange(start, stop) // samples
        eps = rng.standard_normal((stop - start, *x.shape[1:]), dtype=np.float32)
        points = x[c] + eps * stdev[c, None, None, None].astype(np.float32) * vis4[c]
        _, g = grad(_pad(points, batch_size))
        g = g[: stop - start].astype(np.float64)
        first = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        sums[c[first]] += np.add.reduceat(g, first, axis=0)
    return (sums / samples * vis4).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Summaries


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


def select_settings(spec, plan_names, channels=("five_band", "white_light")) -> list[str]:
    """The settings to explain: ``spec`` None = the grid's unmasked true-label models of these
    channels (every sample); otherwise a list of setting names, each of which must be in the grid.
    """
    names = list(plan_names)
    if spec is None:
        settings = {n: Setting.from_name(n) for n in names}
        return [n for n, s in settings.items()
                if s.channels in channels and s.occlusion == "none" and not s.shuffled_labels]
    missing = [s for s in spec if s not in names]
    if missing:
        raise ValueError(f"attribution.settings lists {', '.join(map(repr, missing))}, which no "
                         f"case of the config trains; settings of the grid: {', '.join(names)}")
    return list(dict.fromkeys(spec))


# --------------------------------------------------------------------------------------------
# One trained run


@dataclass
class ExplainedSplit:
    """The test clusters of a run, as its training saw them."""

    raw: np.ndarray        # (N, H, W, 5) raw five-filter cutouts (test-time occlusion)
    x: np.ndarray          # (N, H, W, C) the network input, masked and normalised
    log_age: np.ndarray    # (N,) true log ages
    table: pd.DataFrame    # the clusters' rows of the dataset's table
    visible: np.ndarray    # the model's mask: (H, W), or (N, H, W) for a mask in parsecs


def run_split_spec(meta: dict):
    """The run's ``SplitSpec`` and cross-validation fold (None: the fixed split), from its
    metadata."""
    from clusterage.grid import SplitSpec

    recorded = meta["split"]
    spec = SplitSpec.from_config({k: v for k, v in recorded.items()
                                  if k in SplitSpec.__dataclass_fields__})
    fold = (int(recorded["fold"]), int(recorded["folds"])) if "fold" in recorded else None
    return spec, fold


def run_test_split(dataset_path, meta: dict) -> ExplainedSplit:
    """The test clusters of a run, rebuilt from its metadata by the training's own functions
    (``training.sample_split``, ``training.split_inputs``): the same split (order, grouping,
    fold), channels, masks (pixels, or parsecs at each cluster's galaxy) and normalisation."""
    from clusterage.galaxies import diameter_pixels
    from clusterage.grid import Hyper
    from clusterage.survey import dataset
    from clusterage.survey.splits import SPLITS
    from clusterage.train.training import sample_split, split_inputs

    attrs = dataset.read_attrs(dataset_path)
    want = meta.get("dataset", {}).get("content_sha256")
    if want and attrs.get("content_sha256") != want:
        raise ValueError(f"{dataset_path}: content differs from the dataset the run "
                         f"{meta.get('setting_name')} seed {meta.get('seed')} was trained on "
                         f"(content_sha256 {attrs.get('content_sha256')} != {want})")
    if attrs.get("view"):
        raise ValueError(f"{dataset_path} is the {attrs['view']} view of the dataset; "
                         f"attributions need the packed dataset (five filters)")
    clusters = dataset.read_clusters(dataset_path)
    setting = Setting(**meta["setting"])
    hyper = Hyper.from_config(meta["hyperparameters"])
    split, fold = run_split_spec(meta)
    rows = sample_split(clusters, setting, meta.get("sample_range") or {}, split,
                        int(attrs["cutout_size"]), fold)
    in_sample = np.sort(np.concatenate([rows[name] for name in SPLITS]))
    raw = dataset.read_rows(dataset_path, in_sample)
    data = split_inputs(inputs.select_channels(raw, setting.channels), in_sample, rows, clusters,
                        setting, hyper, meta["seed"])
    test = data.rows["test"]
    table = clusters.iloc[test].reset_index(drop=True)
    diameter = (diameter_pixels(setting.diameter, table["galaxy"].astype(str).to_numpy())
                if setting.unit == "pc" else setting.diameter)
    x = data.x["test"]
    return ExplainedSplit(raw=raw[np.searchsorted(in_sample, test)], x=x, log_age=data.y["test"],
                     table=table, visible=inputs.visible_mask(x.shape[1], setting.mask, diameter))


@dataclass
class Options:
    """How a run is explained; the defaults are the config schema's (attribution:)."""

    ig_steps: int = 64
    baseline: str = "zero"
    blur_sigma_px: float = 5.0
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.15
    batch_size: int = 256
    cluster_maps: bool = True
    occlusion_step: int = 2
    occlusion_max_diameter: int = 80

    @classmethod
    def from_config(cls, cfg: dict) -> "Options":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in cfg.items() if k in known})


def explain_run(dataset_path, run_dir, out_maps, out_profiles, out_occlusion,
                options: Options | None = None, seed: int = 0) -> dict:
    """Integrated Gradients, SmoothGrad and test-time occlusion of a run's test clusters.

    Writes ``out_maps`` (HDF5), ``out_profiles`` (CSV, one row per test cluster, method and
    quantity: the cumulative |attribution| fraction within r = 0, 1, ... px, and for Integrated
    Gradients the cumulative signed attribution within r) and ``out_occlusion`` (CSV, the
    test-time occlusion curve; for a model trained with a mask, the header only). Schemas:
    docs/attribution.md. Attributions are in dex of log age: Integrated Gradients sum to the
    prediction at the cutout minus the prediction at the baseline.
    """
    import time

    import h5py

    from clusterage import __version__
    from clusterage.atomic import atomic_path
    from clusterage.train.keep import load_model

    options = options or Options()
    model, meta = load_model(run_dir)
    split = run_test_split(dataset_path, meta)
    raw, x, y, table, visible = split.raw, split.x, split.log_age, split.table, split.visible
    setting = meta["setting"]
    lo, hi = meta["target_scaling"]["min"], meta["target_scaling"]["max"]
    span = (hi - lo) or 1.0
    grad = gradient_function(model)
    t0 = time.perf_counter()
    ig = integrated_gradients(model, x, steps=options.ig_steps, baseline=options.baseline,
                              visible=visible, blur_sigma_px=options.blur_sigma_px,
                              batch_size=options.batch_size, grad=grad)
    t_ig = time.perf_counter() - t0
    sg = smoothgrad(model, x, samples=options.smoothgrad_samples, noise=options.smoothgrad_noise,
                    visible=visible, seed=seed, batch_size=options.batch_size, grad=grad)
    t_sg = time.perf_counter() - t0 - t_ig
    maps = {"integrated_gradients": ig.attributions * span, "smoothgrad": sg * span}
    pred = ig.output * span + lo
    t0 = time.perf_counter()
    occluded: dict = {}
    occlusion = _occlusion_table(model, raw, y, meta, options, lo, span, occluded)
    t_occ = time.perf_counter() - t0
    err = np.abs(ig.completeness_error) * span  # dex
    change = np.abs(ig.output - ig.baseline_output) * span
    log.info("%s seed %d: %d test clusters; IG (%d steps, %s baseline) %.1f s, SmoothGrad (%d "
             "samples) %.1f s, test-time occlusion %.1f s; IG completeness error median %.3g, "
             "max %.3g dex (mean |f(x) - f(baseline)| %.3g dex)", meta["setting_name"],
             meta["seed"], len(x), options.ig_steps, options.baseline, t_ig,
             options.smoothgrad_samples, t_sg, t_occ, np.median(err) if len(x) else np.nan,
             err.max() if len(x) else np.nan, change.mean() if len(x) else np.nan)

    radii = profile_radii(x.shape[1])
    radial = {(method, "abs_fraction"): radial_profile(m) for method, m in maps.items()}
    radial.update({(method, "signed_sum"): radial_sum(maps[method]) for method in ADDITIVE_METHODS})
    for method in ADDITIVE_METHODS:
        log.info("%s beyond r = %d px: %.3f of |attribution| (cluster mean), %.3f of the "
                 "predictions' spread over the test clusters", METHOD_LABEL[method], INNER_RADIUS,
                 1 - np.nanmean(radial[method, "abs_fraction"][:, INNER_RADIUS]),
                 1 - spread_share(radial[method, "signed_sum"])[INNER_RADIUS])
    profiles = []
    for (method, quantity), prof in radial.items():
        frame = pd.DataFrame(prof, columns=[f"r{r}" for r in radii])
        frame.insert(0, "quantity", quantity)
        frame.insert(0, "method", method)
        frame.insert(0, "log_age_pred", pred)
        frame.insert(0, "log_age_true", y)
        frame.insert(0, "cluster_id", table["cluster_id"].to_numpy())
        frame.insert(0, "galaxy", table["galaxy"].to_numpy())
        frame.insert(0, "seed", meta["seed"])
        frame.insert(0, "setting", meta["setting_name"])
        profiles.append(frame)
    with atomic_path(out_profiles) as tmp:
        pd.concat(profiles, ignore_index=True).to_csv(tmp, index=False, float_format="%.6g")

    with atomic_path(out_occlusion) as tmp:
        occlusion.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_maps) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({
                "schema_version": SCHEMA_VERSION, "setting": meta["setting_name"],
                "seed": meta["seed"], "channels": setting["channels"],
                "bands": ["NUV", "U", "B", "V", "I"] if setting["channels"] == "five_band" else ["white_light"],
                "units": "dex of log10(age/yr)", "baseline": options.baseline,
                "blur_sigma_px": options.blur_sigma_px, "ig_steps": options.ig_steps,
                "smoothgrad_samples": options.smoothgrad_samples,
                "smoothgrad_noise": options.smoothgrad_noise, "smoothgrad_seed": seed,
                "age_ranges": [label for label, _, _ in AGE_RANGES],
                "cluster_pixel": [x.shape[1] // 2, x.shape[2] // 2],
                "software_version": f"clusterage {__version__}",
            })
            f.create_dataset("visible", data=visible)
            if occluded:  # each test cluster's prediction under each test-time mask
                masks = sorted({m for m, _ in occluded})
                diameters = sorted({d for _, d in occluded})
                g = f.create_group("occlusion")
                g.attrs["masks"] = masks
                g.create_dataset("diameters", data=np.asarray(diameters))
                g.create_dataset("log_age_pred", data=np.stack(
                    [np.stack([occluded[m, d] for d in diameters]) for m in masks]))
            f.create_dataset("radii", data=radii)
            grp = f.create_group("clusters")
            grp.create_dataset("galaxy", data=table["galaxy"].to_numpy().astype("S"))
            grp.create_dataset("cluster_id", data=table["cluster_id"].to_numpy())
            grp.create_dataset("log_age_true", data=y)
            grp.create_dataset("log_age_pred", data=pred)
            grp.create_dataset("log_age_baseline", data=ig.baseline_output * span + lo)
            grp.create_dataset("ig_completeness_error", data=ig.completeness_error * span)
            for method, m in maps.items():
                g = f.create_group(method)
                means, counts = age_range_means(m, y)
                g.create_dataset("mean_abs_by_age", data=means)
                g.create_dataset("n_by_age", data=counts)
                g.create_dataset("profile", data=radial[method, "abs_fraction"])
                if (method, "signed_sum") in radial:
                    g.create_dataset("radial_sum", data=radial[method, "signed_sum"])
                if options.cluster_maps:
                    # float16 (3 significant digits) halves the largest output of a run; the
                    # profiles, means and completeness errors above come from the float32 maps.
                    g.create_dataset("maps", data=m.astype(np.float16),
                                     chunks=(1, *m.shape[1:]) if len(m) else None,
                                     compression="gzip", compression_opts=4, shuffle=True)
    return {"n_test": int(len(x)), "ig_seconds": t_ig, "smoothgrad_seconds": t_sg,
            "occlusion_seconds": t_occ,
            "completeness_error_median_dex": float(np.median(err)) if len(x) else None}


OCCLUSION_COLUMNS = ["setting", "seed", "mask", "diameter", "scatter", "median_pred", "n"]


def _occlusion_table(model, raw, y, meta, options: Options, lo, span,
                     predictions: dict | None = None) -> pd.DataFrame:
    """Test-time occlusion of an unmasked run; no rows for a run trained with a mask."""
    setting = meta["setting"]
    if setting["mask"] != "none" and setting["diameter"] != 0:
        return pd.DataFrame(columns=OCCLUSION_COLUMNS)

    def predict(x):
        out = model.predict(x, batch_size=options.batch_size, verbose=0)
        return out.reshape(-1).astype(np.float64) * span + lo

    table = occlusion_curve(predict, raw, y, setting["channels"],
                            occlusion_diameters(options.occlusion_step, options.occlusion_max_diameter),
                            meta["hyperparameters"].get("normalisation", "instance"), predictions)
    table.insert(0, "seed", meta["seed"])
    table.insert(0, "setting", meta["setting_name"])
    return table[OCCLUSION_COLUMNS]
