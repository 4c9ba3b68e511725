"""Scores of docs/method.md: the scatter, the null predictor, predictive power, relative error."""

from __future__ import annotations

import numpy as np

SCATTER_FACTOR = 1.49  # 1.49 x median absolute deviation, the paper's "mean logarithmic scatter"


def scatter(y_pred, y_true) -> float:
    """Scatter in dex: 1.49 * median(|y_pred - y_true|). Not a standard deviation, not an RMSE."""
    y_pred = np.asarray(y_pred, dtype=float)
    y_true = np.asarray(y_true, dtype=float)
    if y_pred.shape != y_true.shape:
        raise ValueError(f"prediction and truth differ in shape: {y_pred.shape} vs {y_true.shape}")
    if y_true.size == 0:
        return float("nan")
    return float(SCATTER_FACTOR * np.median(np.abs(y_pred - y_true)))


def null_predictor(log_age: np.ndarray, split: dict[str, np.ndarray]) -> dict:
    """Predict the train-set mean log age for everyone; score each split like a model."""
    mean = float(np.mean(log_age[split["train"]]))
    out = {"train_mean_log_age": mean}
    for name, idx in split.items():
        out[name] = scatter(np.full(len(idx), mean), log_age[idx])
        out[f"n_{name}"] = int(len(idx))
    return out


def predictive_power(null_scatter, model_scatter):
    """Share of the null predictor's variance the model explains: (b^2 - s^2) / b^2."""
    b = np.asarray(null_scatter, dtype=float)
    s = np.asarray(model_scatter, dtype=float)
    return (b**2 - s**2) / b**2


def relative_error(null_scatter, model_scatter):
    """Model scatter as a percentage of the null scatter (paper Fig. 7)."""
    return 100.0 * np.asarray(model_scatter, dtype=float) / np.asarray(null_scatter, dtype=float)
