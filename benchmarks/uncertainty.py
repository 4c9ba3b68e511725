"""Time the bootstrap intervals of the paper grid's tables against a plain numpy loop.

    python benchmarks/uncertainty.py                  # paper grid: 325 settings x 5 seeds, 1,300 test clusters
    python benchmarks/uncertainty.py --settings 40    # a smaller grid

Both run in this process on the same error matrices. The plain loop (per replicate: draw the
clusters, then per model ``np.median`` of the drawn errors, then the seed draw) is timed on
``--baseline-settings`` settings, and the vectorised path of ``clusterage.analysis.uncertainty`` (one
array operation per model over all replicates) on the same settings and on the whole grid; their
replicates are checked to be identical. It also times reading one run's ``predictions.csv`` at
the real survey's size (8,651 clusters), which the aggregation does once per run. Writes
``benchmarks/out/uncertainty.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.analysis.uncertainty import (
    Bootstrap,
    ClusterDraws,
    model_scatters,
    setting_replicates,
)
from clusterage.metrics import SCATTER_FACTOR


def plain_loop(errors: np.ndarray, test: ClusterDraws, boot: Bootstrap, key: str) -> np.ndarray:
    """The same replicates the straightforward way: one np.median per replicate and model."""
    k = errors.shape[0]
    per_model = np.empty((k, boot.resamples))
    for b in range(boot.resamples):
        idx = test.draws[b]
        for m in range(k):
            per_model[m, b] = SCATTER_FACTOR * np.median(errors[m, idx])
    if k == 1:
        return per_model[0]
    pick = boot.rng("models", key).integers(0, k, size=(boot.resamples, k))
    return np.array([per_model[pick[b], b].mean() for b in range(boot.resamples)])


def vectorised(errors: np.ndarray, test: ClusterDraws, boot: Bootstrap, key: str) -> np.ndarray:
    return setting_replicates(model_scatters(errors, test), boot, key)


def read_predictions_seconds(n: int = 8651, repeats: int = 10) -> float:
    """Seconds to read one run's predictions.csv of the real survey's size (the replicates read
    every run's once)."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"galaxy": rng.choice(["ngc628c", "ngc1433", "ic5332"], n),
                          "cluster_id": np.arange(n), "split": rng.choice(["train", "validation", "test"], n),
                          "log_age_true": rng.normal(7.5, 1, n), "log_age_pred": rng.normal(7.5, 1, n)})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.csv"
        frame.to_csv(path, index=False)
        t0 = time.perf_counter()
        for _ in range(repeats):
            pd.read_csv(path)
        return (time.perf_counter() - t0) / repeats


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", type=int, default=325)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--clusters", type=int, default=1300)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--baseline-settings", type=int, default=4)
    ap.add_argument("--summary", type=Path, default=Path(__file__).parent / "out" / "uncertainty.json")
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    boot = Bootstrap(a.resamples, 0.95, 0)
    test = ClusterDraws.drawn(range(a.clusters), np.zeros(a.clusters), boot)
    errors = [np.abs(rng.normal(0, 0.5 + 0.001 * s, (a.seeds, a.clusters))) for s in range(a.settings)]

    n_base = min(a.baseline_settings, a.settings)
    t0 = time.perf_counter()
    base = [plain_loop(errors[s], test, boot, str(s)) for s in range(n_base)]
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = [vectorised(errors[s], test, boot, str(s)) for s in range(n_base)]
    t_fast_subset = time.perf_counter() - t0
    for x, y in zip(base, fast):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    t0 = time.perf_counter()
    for s in range(a.settings):
        vectorised(errors[s], test, boot, str(s))
    t_grid = time.perf_counter() - t0
    t_read = read_predictions_seconds()
    out = {"settings": a.settings, "seeds": a.seeds, "runs": a.settings * a.seeds,
           "clusters": a.clusters, "resamples": a.resamples, "baseline_settings": n_base,
           "plain_loop_s": t_base, "vectorised_same_settings_s": t_fast_subset,
           "speedup": t_base / t_fast_subset, "vectorised_grid_s": t_grid,
           "plain_loop_grid_s_extrapolated": t_base * a.settings / n_base,
           "read_one_predictions_csv_s": t_read,
           "read_grid_predictions_s_extrapolated": t_read * a.settings * a.seeds,
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "numpy": np.__version__}
    a.summary.parent.mkdir(parents=True, exist_ok=True)
    a.summary.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
