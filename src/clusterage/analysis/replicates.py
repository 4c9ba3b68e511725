"""Each setting's bootstrap replicates, from its runs' per-cluster test predictions.

Reads ``predictions.csv`` of every finished run, puts the test clusters of a sample in one
order, and draws the replicates of ``clusterage.analysis.uncertainty``: one cluster draw per test set,
shared by every setting scored on it (so their comparisons are paired), and one model draw per
setting. The tables (``clusterage.analysis.aggregate``) and comparisons (``clusterage.analysis.comparisons``) read
intervals from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.metrics import scatter

from .uncertainty import Bootstrap, ClusterDraws, model_scatters, setting_replicates

KEY = ["galaxy", "cluster_id"]


@dataclass
class Scored:
    """A setting's (or the null predictor's) test scatter replicates on one test set, and the
    scatter itself (the mean over its models on every test cluster)."""
    replicates: np.ndarray
    test: ClusterDraws
    n_models: int
    value: float = np.nan


def _test_errors(path: Path) -> pd.DataFrame:
    """One run's test clusters, sorted by (galaxy, cluster id), with |pred - true|."""
    try:
        p = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: cannot read the run's predictions ({exc})") from exc
    missing = [c for c in (*KEY, "split", "log_age_true", "log_age_pred") if c not in p]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} (written by clusterage.train.training)")
    t = p[p["split"] == "test"].sort_values(KEY, kind="stable")
    if t.duplicated(KEY).any():
        dup = t.loc[t.duplicated(KEY), KEY].iloc[0]
        raise ValueError(f"{path}: cluster {dup['galaxy']} {dup['cluster_id']} is twice in the test split")
    return t.assign(error=(t["log_age_pred"] - t["log_age_true"]).abs())


class Replicates:
    """Replicates of every setting of a plan's finished runs and of each sample's null predictor.

    ``runs``: the expected runs (``plan.Plan.runs``: setting, sample, seed, run_dir);
    ``train_means``: the null predictor's train-set mean log age per sample; ``key`` keeps the
    cluster draws of another results folder (another survey or split) apart from these.
    """

    def __init__(self, runs: pd.DataFrame, train_means: dict, boot: Bootstrap, key: str = ""):
        self.boot, self.key = boot, key
        self._tests: dict[tuple, ClusterDraws] = {}
        self._sample_test: dict[str, ClusterDraws] = {}
        self.settings: dict[str, Scored] = {}
        self.errors: dict[str, pd.DataFrame] = {}
        self.sample_of: dict[str, str] = {}      # each scored setting's sample (its null's key)
        for setting, g in runs.drop_duplicates(["setting", "seed"]).groupby("setting", sort=False):
            frames = [(r["run_dir"], _test_errors(Path(r["run_dir"]) / "predictions.csv"))
                      for r in g.to_dict("records")
                      if (Path(r["run_dir"]) / "metrics.json").is_file()]
            if frames:
                self.sample_of[setting] = str(g["sample"].iloc[0])
                self._add(setting, self.sample_of[setting], frames)
        self.nulls: dict[str, Scored] = {
            sample: Scored(test.null_replicates(train_means[sample]), test, 0,
                           scatter(np.full(test.n, train_means[sample]), test.truth))
            for sample, test in self._sample_test.items()
            if np.isfinite(train_means.get(sample, np.nan))}

    def _add(self, setting: str, sample: str, frames) -> None:
        first_dir, first = frames[0]
        ids = tuple(zip(first["galaxy"], first["cluster_id"]))
        for run_dir, f in frames[1:]:
            if tuple(zip(f["galaxy"], f["cluster_id"])) != ids:
                raise ValueError(f"{run_dir}/predictions.csv: its test clusters differ from those of "
                                 f"{first_dir} (same setting {setting}); a setting's models must "
                                 f"share one split")
        test = self._tests.get(ids)
        if test is None:
            test = self._tests[ids] = ClusterDraws.drawn(ids, first["log_age_true"].to_numpy(),
                                                         self.boot, key=self.key)
            self._sample_test.setdefault(sample, test)
        errors = np.stack([f["error"].to_numpy(float) for _, f in frames])
        per_model = model_scatters(errors, test)
        value = float(np.mean([scatter(e, np.zeros_like(e)) for e in errors]))
        self.settings[setting] = Scored(setting_replicates(per_model, self.boot, setting), test,
                                        len(frames), value)
        self.errors[setting] = first[KEY].assign(**{f"model{k}": e for k, e in enumerate(errors)})

    def group(self, setting: str, galaxies, name: str, train_mean: float) -> tuple[Scored, Scored] | None:
        """The setting's replicates and its null's on the clusters of ``galaxies`` alone (a galaxy
        group of paper Fig. 7), one draw per (group, test set) shared by every setting."""
        if setting not in self.errors:
            return None
        e = self.errors[setting]
        keep = e["galaxy"].isin(list(galaxies)).to_numpy()
        if not keep.any():
            return None
        whole = self.settings[setting].test
        ids = tuple(i for i, k in zip(whole.ids, keep) if k)
        key = ("group", name, ids)
        test = self._tests.get(key)
        if test is None:
            test = self._tests[key] = ClusterDraws.drawn(ids, whole.truth[keep], self.boot, key=name)
        errors = e[[c for c in e if c.startswith("model")]].to_numpy(float).T[:, keep]
        per_model = model_scatters(errors, test)
        scored = Scored(setting_replicates(per_model, self.boot, setting), test, len(errors))
        return scored, Scored(test.null_replicates(train_mean), test, 0)


def from_results(results, boot: Bootstrap) -> Replicates:
    """The replicates of every finished run under a results folder (``train/<setting>/seed<k>/``)
    and of each sample's null (``null/<sample>.json``), its cluster draws keyed by the folder."""
    results = Path(results)
    rows = []
    for path in sorted(results.glob("train/*/*/*/*/seed*/predictions.csv")):
        parts = path.relative_to(results).parts
        rows.append({"setting": "/".join(parts[1:5]), "sample": parts[1],
                     "seed": int(parts[5].removeprefix("seed")), "run_dir": str(path.parent)})
    runs = pd.DataFrame(rows, columns=["setting", "sample", "seed", "run_dir"])
    means = {s: json.loads((results / "null" / f"{s}.json").read_text())["train_mean_log_age"]
             for s in set(runs["sample"])}
    return Replicates(runs, means, boot, key=str(results))
