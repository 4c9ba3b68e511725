"""Input gradients of a trained model, and the attributions built from them (docs/attribution.md).

- ``integrated_gradients``: Integrated Gradients (Sundararajan et al. 2017) from a baseline that
  is the all-zero input (what a hidden pixel is after normalisation) or a blurred copy of the
  input, trapezoid rule over ``steps`` intervals;
- ``smoothgrad``: SmoothGrad (Smilkov et al. 2017), the input gradient averaged over noisy copies.

The work is batched over clusters: every gradient call takes ``batch_size`` path points of
several clusters at once, so no Python loop runs per cluster. Gradients come from one small
adapter per Keras backend (``gradient_function``): TensorFlow (tf.GradientTape) and JAX
(jax.grad of the model's stateless call); any other backend, PyTorch included, raises
``UnsupportedBackend``. PAIR's ``saliency`` package computes the same quantities one image at a
time; the test suite checks this module against it.

Attributions are taken with respect to the network input. Pixels a mask hides are constants
(zero) of the input pipeline, so their attribution is zero by definition: noise, baselines and
gradients are restricted to the visible pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BACKENDS = ("tensorflow", "jax")
BASELINES = ("zero", "blur")


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
    raise UnsupportedBackend(unsupported(backend))


def unsupported(backend: str) -> str | None:
    """Why attributions cannot be taken on this Keras backend; None where they can."""
    if backend in BACKENDS:
        return None
    return (f"attributions need input gradients, which clusterage computes for the Keras "
            f"backends {' and '.join(BACKENDS)} only; the active backend is {backend!r} (set "
            f"KERAS_BACKEND or 'keras_backend' in the config to one of them)")


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
