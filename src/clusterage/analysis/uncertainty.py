"""Confidence intervals of scatters and of their differences: a paired, two-level bootstrap.

A setting's scatter is the mean over its models (seeds) of ``1.49 x median |pred - true|`` over
the test clusters. Two things would change it on a rerun: other models (initialisation,
augmentation order, the machine's arithmetic) and other test clusters. Each replicate redraws
both, with replacement:

- the test clusters, once per replicate and test set, shared by every model of every setting
  scored on that test set (the models are crossed with the clusters, not nested in them: every
  model scores the same clusters, so a draw per model would shrink the test set's share of the
  variance by the number of seeds; Owen 2007, "The pigeonhole bootstrap");
- the models of each setting, independently per setting (seed k of one setting has nothing in
  common with seed k of another).

Two settings on the same test clusters (same sample and split) are compared *paired*: their
replicates share the cluster draw, so the difference's interval leaves out the test set's common
difficulty. Settings on different clusters (another sample, another split) get independent
draws and the comparison says it is unpaired. The null predictor (the train-set mean age) is
scored inside each replicate on the same drawn clusters. One seed: only the clusters are
resampled, and the table says so. Intervals are percentiles of the replicates.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from clusterage.metrics import SCATTER_FACTOR


@dataclass(frozen=True)
class Bootstrap:
    """How the intervals are drawn: config ``uncertainty`` (resamples, level, seed)."""
    resamples: int
    level: float
    seed: int

    @classmethod
    def from_config(cls, config: dict) -> "Bootstrap":
        u = config["uncertainty"]
        return cls(int(u["resamples"]), float(u["level"]), int(u["seed"]))

    def interval(self, replicates) -> tuple[float, float]:
        """The central ``level`` percentile interval of the replicates (NaN where none is finite)."""
        r = np.asarray(replicates, dtype=float)
        r = r[np.isfinite(r)]
        if not len(r):
            return (np.nan, np.nan)
        tail = 50.0 * (1.0 - self.level)
        lo, hi = np.percentile(r, [tail, 100.0 - tail])
        return (float(lo), float(hi))

    def rng(self, *keys) -> np.random.Generator:
        """A generator for one stream of draws, fixed by the seed and the keys (names, ids)."""
        words = [self.seed] + [zlib.crc32(str(k).encode()) for k in keys]
        return np.random.default_rng(np.random.SeedSequence(words))


@dataclass
class ClusterDraws:
    """The clusters a group of settings is scored on, and one shared draw of them per replicate."""
    ids: tuple                      # cluster keys, in column order of every error matrix
    truth: np.ndarray               # true log age per cluster
    draws: np.ndarray = field(repr=False)   # (resamples, n) cluster indices

    @classmethod
    def drawn(cls, ids, truth, boot: Bootstrap, key: str = "") -> "ClusterDraws":
        ids = tuple(ids)
        truth = np.asarray(truth, dtype=float)
        rng = boot.rng("clusters", key, "\n".join(map(str, ids)))
        draws = rng.integers(0, len(ids), size=(boot.resamples, len(ids)))
        return cls(ids, truth, draws)

    @property
    def n(self) -> int:
        return len(self.ids)

    @cached_property
    def counts(self) -> np.ndarray:
        """How often each cluster is drawn in each replicate: (resamples, n)."""
        b, n = self.draws.shape
        dtype = np.int16 if n < np.iinfo(np.int16).max else np.int64
        flat = (self.draws + n * np.arange(b)[:, None]).ravel()
        return np.bincount(flat, minlength=b * n).reshape(b, n).astype(dtype)

    def null_replicates(self, train_mean: float) -> np.ndarray:
        """The null predictor's scatter in each replicate: the train mean on the drawn clusters."""
        return model_scatters(np.abs(self.truth - float(train_mean)), self)[0]


def model_scatters(errors: np.ndarray, test: ClusterDraws) -> np.ndarray:
    """Scatter of each model (rows of ``errors``, |pred - true| per cluster of ``test``) in each
    replicate's drawn clusters: (n_models, resamples).

    The median of a redrawn sample is read from how often each cluster was drawn: with a
    model's errors sorted, the running count of draws reaches the middle ranks at the median.
    That is one cumulative sum per model over all replicates, no sort or partition per replicate.
    """
    errors = np.atleast_2d(np.asarray(errors, dtype=float))
    if errors.shape[1] != test.n:
        raise ValueError(f"errors have {errors.shape[1]} clusters, the test set {test.n}")
    n = test.n
    lo_rank, hi_rank = (n + 1) // 2, n // 2 + 1       # 1-based middle ranks (equal for odd n)
    out = np.empty((len(errors), test.draws.shape[0]))
    for k, e in enumerate(errors):
        order = np.argsort(e, kind="stable")
        running = np.cumsum(test.counts[:, order], axis=1, dtype=test.counts.dtype)
        lo = e[order[np.argmax(running >= lo_rank, axis=1)]]
        hi = e[order[np.argmax(running >= hi_rank, axis=1)]]
        out[k] = SCATTER_FACTOR * 0.5 * (lo + hi)
    return out


def setting_replicates(per_model: np.ndarray, boot: Bootstrap, key: str) -> np.ndarray:
    """The setting's statistic (mean over its models) in each replicate, the models redrawn
    with replacement (``key`` names the setting's stream); one model: its cluster replicates.
    ``per_model``: (models, resamples, ...)."""
    k, b = per_model.shape[:2]
    if k == 1:
        return per_model[0].copy()
    pick = boot.rng("models", key).integers(0, k, size=(b, k))
    return per_model[pick, np.arange(b)[:, None]].mean(axis=1)


@dataclass
class Estimate:
    """One scatter (or difference) with its interval."""
    value: float
    low: float
    high: float

    def excludes_zero(self) -> int:
        """+1 when the interval lies above 0, -1 below, 0 when it contains 0 (or is undefined)."""
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return 0
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


def estimate(value: float, replicates, boot: Bootstrap) -> Estimate:
    lo, hi = boot.interval(replicates)
    return Estimate(float(value), lo, hi)


def resampled(n_models: int) -> str:
    """What the interval of a setting with ``n_models`` models redraws, in words for the tables."""
    if n_models == 0:
        return ""
    return "seeds and clusters" if n_models > 1 else "clusters only (1 seed)"


def mean_replicates(values: np.ndarray, test: ClusterDraws) -> np.ndarray:
    """The mean over the drawn clusters of per-cluster ``values`` (n, ...) in each replicate:
    (resamples, ...). NaN values (a cluster without a value) are left out of its replicates."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    weights = test.counts.astype(float)
    flat = values.reshape(test.n, -1)
    ok = finite.reshape(test.n, -1)
    total = weights @ np.where(ok, flat, 0.0)
    count = weights @ ok.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).reshape(weights.shape[0], *values.shape[1:])


def spread_share_replicates(sums: np.ndarray, test: ClusterDraws) -> np.ndarray:
    """``attribution.spread_share`` of the drawn clusters in each replicate: (resamples, R), from
    the clusters' cumulative signed sums (n, R), cov(S_r, S_R) / var(S_R) over the draw."""
    sums = np.asarray(sums, dtype=float)
    w = test.counts.astype(float) / test.n
    total = sums[:, -1]
    mean_r, mean_total = w @ sums, w @ total
    cov = w @ (sums * total[:, None]) - mean_r * mean_total[:, None]
    var = w @ (total * total) - mean_total**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / var[:, None]
