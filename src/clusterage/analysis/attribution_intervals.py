"""Bootstrap replicates of the attribution's readings: the radial profiles (share of
|attribution| and of the predictions' spread within r) and the test-time occlusion scatters.

The same two-way draw as the scatters (clusterage.analysis.uncertainty): the test clusters once per
replicate and test set, shared by every explained model and setting on it, and each setting's
seeds. ``key`` keeps the draws of different results folders (surveys) apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .uncertainty import (
    Bootstrap,
    ClusterDraws,
    mean_replicates,
    model_scatters,
    setting_replicates,
    spread_share_replicates,
)

KEY = ["galaxy", "cluster_id"]


@dataclass
class Curve:
    """A setting's replicates along an axis (radius or diameter): (resamples, len(axis))."""
    axis: np.ndarray
    replicates: np.ndarray
    n_models: int


class Draws:
    """One ClusterDraws per distinct test set (same clusters in the same order: same draws)."""

    def __init__(self, boot: Bootstrap, key: str = ""):
        self.boot, self.key, self._by_ids = boot, key, {}

    def __call__(self, ids, truth) -> ClusterDraws:
        ids = tuple(ids)
        if ids not in self._by_ids:
            self._by_ids[ids] = ClusterDraws.drawn(ids, truth, self.boot, key=self.key)
        return self._by_ids[ids]


def _ids(frame: pd.DataFrame) -> tuple:
    return tuple(zip(frame["galaxy"].astype(str), frame["cluster_id"]))


def profile_replicates(profile_files, boot: Bootstrap, key: str = "") -> dict[tuple, Curve]:
    """Per (setting, method, quantity): the profile within r in each replicate, as
    ``attribution_report.seed_profiles`` computes it per seed (``abs_fraction``: cluster-mean
    cumulative |attribution| fraction; ``spread_share`` from the signed sums), mean over the
    drawn seeds."""
    frames = [pd.read_csv(f) for f in profile_files]
    frames = [f for f in frames if len(f) and "quantity" in f.columns]
    if not frames:
        return {}
    table = pd.concat(frames, ignore_index=True)
    rcols = [c for c in table.columns if c.startswith("r") and c[1:].isdigit()]
    radii = np.array([int(c[1:]) for c in rcols])
    draws = Draws(boot, key)
    per_model: dict[tuple, list] = {}
    for (setting, method, quantity, seed), t in table.groupby(
            ["setting", "method", "quantity", "seed"], sort=False):
        t = t.sort_values(KEY, kind="stable")
        test = draws(_ids(t), t["log_age_true"].to_numpy(float))
        values = t[rcols].to_numpy(float)
        if quantity == "signed_sum":
            quantity, reps = "spread_share", spread_share_replicates(values, test)
        else:
            reps = mean_replicates(values, test)
        per_model.setdefault((setting, method, quantity), []).append(reps)
    return {k: Curve(radii, setting_replicates(np.stack(v), boot, f"{key}/{'/'.join(k)}"), len(v))
            for k, v in per_model.items()}


def occlusion_replicates(maps_files, boot: Bootstrap, key: str = "") -> dict[tuple, Curve]:
    """Per (setting, mask): the test scatter under test-time occlusion at each diameter in each
    replicate, from the clusters' occluded predictions in ``maps.h5``. A setting's diameters
    share their draws, so the cost of a mask (D against D = 0) is a paired difference."""
    draws = Draws(boot, key)
    per_model: dict[tuple, list] = {}
    diameters: dict[tuple, np.ndarray] = {}
    for path in maps_files:
        with h5py.File(path, "r") as f:
            if "occlusion" not in f:
                continue
            setting = str(f.attrs["setting"])
            masks = [str(m) for m in f["occlusion"].attrs["masks"]]
            d = f["occlusion/diameters"][:]
            pred = f["occlusion/log_age_pred"][:]
            clusters = pd.DataFrame({"galaxy": f["clusters/galaxy"][:].astype(str),
                                     "cluster_id": f["clusters/cluster_id"][:],
                                     "truth": f["clusters/log_age_true"][:]})
        order = np.lexsort((clusters["cluster_id"].to_numpy(), clusters["galaxy"].to_numpy()))
        clusters = clusters.iloc[order]
        test = draws(_ids(clusters), clusters["truth"].to_numpy(float))
        truth = clusters["truth"].to_numpy(float)
        for k, mask in enumerate(masks):
            errors = np.abs(pred[k][:, order] - truth)          # (D, n)
            reps = model_scatters(errors, test).T                # (resamples, D)
            per_model.setdefault((setting, mask), []).append(reps)
            diameters[setting, mask] = d
    return {k: Curve(diameters[k], setting_replicates(np.stack(v), boot, f"{key}/{'/'.join(k)}"),
                     len(v)) for k, v in per_model.items()}


def at(curve: Curve, value) -> np.ndarray:
    """A curve's replicates at one radius or diameter."""
    hit = np.flatnonzero(curve.axis == value)
    if not len(hit):
        raise KeyError(f"{value} is not on the curve (have {curve.axis.min()} .. {curve.axis.max()})")
    return curve.replicates[:, hit[0]]


def files(results_dir, name: str) -> list[Path]:
    """Every explained run's ``name`` (profiles.csv, maps.h5) under a results folder."""
    return sorted(Path(results_dir).glob(f"attribution/*/*/*/*/seed*/{name}"))
