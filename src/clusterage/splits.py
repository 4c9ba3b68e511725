"""Samples and the fixed train / validation / test split (docs/method.md, "Splits and augmentation")."""

from __future__ import annotations

import random

import numpy as np

SPLITS = ("train", "validation", "test")


def sample_indices(log_age: np.ndarray, min_log_age: float | None = None,
                   max_log_age: float | None = None) -> np.ndarray:
    """Indices of the clusters in an inclusive log-age range (``no_extremes``: 7.0..9.5)."""
    keep = np.ones(len(log_age), dtype=bool)
    if min_log_age is not None:
        keep &= log_age >= min_log_age
    if max_log_age is not None:
        keep &= log_age <= max_log_age
    return np.flatnonzero(keep)


def split_indices(n: int, seed: int = 42, fractions=(0.70, 0.15, 0.15)) -> dict[str, np.ndarray]:
    """Positions 0..n-1 assigned to train / validation / test.

    Python's ``random.shuffle`` of ``range(n)`` with one fixed seed, as the authors did: every
    model of a case sees the same split, and the reference null scatters of docs/method.md are
    reproduced exactly. The cuts fall at ``int(f_train n)`` and ``int((f_train + f_val) n)``
    (cumulative fractions), which is what reproduces the reference validation scatter 1.0721.
    """
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or np.any(f <= 0) or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"split.fractions must be three positive numbers summing to 1, got {list(fractions)}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    cut_train = int(f[0] * n)
    cut_val = int((f[0] + f[1]) * n)
    order = np.asarray(order, dtype=np.int64)
    return {
        "train": order[:cut_train],
        "validation": order[cut_train:cut_val],
        "test": order[cut_val:],
    }
