"""Collect the runs of a sweep into one tidy scatter table.

Honest about gaps: a (case, diameter) with fewer seeds than asked is marked incomplete and
the missing runs are listed, so figures can be drawn while a sweep is still going.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.metrics import predictive_power, relative_error, scatter
from clusterage.plan import Plan
from clusterage.survey.splits import SPLITS

from .replicates import Replicates, Scored
from .uncertainty import Bootstrap, resampled

# The split whose scatters get intervals: the held-out one every comparison and figure reads.
INTERVAL_SPLIT = "test"


def seed_spread(values) -> float:
    """The seed-to-seed spread of a scatter: the population standard deviation over the seeds
    (``np.std``, ddof 0), as the paper computed it; NaN for fewer than two seeds."""
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=0)) if len(values) > 1 else np.nan


INTERVAL_COLUMNS = ["scatter_ci_low", "scatter_ci_high", "predictive_power_ci_low",
                    "predictive_power_ci_high", "resampled"]

TABLE_COLUMNS = ["case", "channels", "sample", "mask", "diameter", "diameter_unit", "shuffled_labels", "split",
                 "scatter_mean", "scatter_std", *INTERVAL_COLUMNS[:2], "n_seeds", "n_seeds_expected",
                 "complete", "null_scatter", "predictive_power", *INTERVAL_COLUMNS[2:],
                 "relative_error_pct"]


def interval_columns(scored: Scored | None, null: Scored | None, boot: Bootstrap) -> dict:
    """The interval columns of a table row: the scatter's and the predictive power's (its null
    scored on the same drawn clusters); NaN where the runs or the null are missing."""
    out = dict.fromkeys(INTERVAL_COLUMNS, np.nan) | {"resampled": ""}
    if scored is None:
        return out
    out["scatter_ci_low"], out["scatter_ci_high"] = boot.interval(scored.replicates)
    out["resampled"] = resampled(scored.n_models)
    if null is not None and null.test is scored.test:
        power = predictive_power(null.replicates, scored.replicates)
        out["predictive_power_ci_low"], out["predictive_power_ci_high"] = boot.interval(power)
    return out


def replicates(grid: Plan, nulls: dict, boot: Bootstrap) -> Replicates:
    """Bootstrap replicates of every finished run of the grid and of each sample's null."""
    train_means = {s: (n or {}).get("train_mean_log_age", np.nan) for s, n in nulls.items()}
    return Replicates(expected_runs(grid), train_means, boot)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def expected_runs(grid: Plan) -> pd.DataFrame:
    """Every (case, diameter, seed) the grid asks for, with its setting and run folder."""
    return pd.DataFrame(grid.runs())


def _collect(grid: Plan, boot: Bootstrap):
    per_seed, missing = [], []
    for run in grid.runs():
        path = Path(run["run_dir"]) / "metrics.json"
        m = _read_json(path)
        if m is None:
            missing.append(str(path))
            continue
        per_seed.append({k: run[k] for k in ("case", "channels", "sample", "mask", "diameter",
                                             "diameter_unit", "shuffled_labels", "seed")}
                        | {s: m[f"scatter_{s}"] for s in SPLITS})
    nulls = {sample: _read_json(Path(grid.results) / "null" / f"{sample}.json")
             for sample in grid.null_samples}
    per_seed = pd.DataFrame(per_seed, columns=["case", "channels", "sample", "mask", "diameter", "diameter_unit",
                                               "shuffled_labels", "seed", *SPLITS])
    reps = replicates(grid, nulls, boot)
    return per_seed, tidy(grid, per_seed, nulls, reps), missing, reps


def collect(grid: Plan, boot: Bootstrap) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Per-seed metrics of every (case, diameter) that exists, the tidy table, missing runs."""
    per_seed, table, missing, _ = _collect(grid, boot)
    return per_seed, table, missing


def missing_runs(grid: Plan) -> pd.DataFrame:
    """One row per (setting, seed) without a finished run, with the cases that wait for it."""
    runs = expected_runs(grid)
    if not len(runs):
        return pd.DataFrame(columns=MISSING_COLUMNS)
    done = runs["run_dir"].map(lambda d: (Path(d) / "metrics.json").is_file())
    todo = runs[~done]
    out = (todo.groupby(["setting", "seed", "run_dir"], sort=False)["case"]
           .agg(lambda c: " ".join(sorted(set(c)))).reset_index()
           .rename(columns={"case": "cases"}))
    return out[MISSING_COLUMNS]


MISSING_COLUMNS = ["setting", "seed", "run_dir", "cases"]

GROUP_COLUMNS = ["case", "channels", "sample", "mask", "diameter", "diameter_unit", "shuffled_labels", "group",
                 "split", "scatter_mean", "scatter_std", *INTERVAL_COLUMNS[:2], "n_seeds",
                 "n_seeds_expected", "complete", "n_clusters", "null_scatter", "predictive_power",
                 *INTERVAL_COLUMNS[2:], "relative_error_pct", "relative_error_ci_low",
                 "relative_error_ci_high"]


def _group_scores(predictions: pd.DataFrame, groups: dict[str, list[str]], split: str) -> dict:
    """Scatter of one run's predictions per galaxy group, and the null scatter of the group.

    The null predictor is the run's train-set mean log age (the same for every model of a
    sample, and unchanged by shuffling the labels), scored on the group's clusters only.
    """
    train_mean = float(predictions.loc[predictions["split"] == "train", "log_age_true"].mean())
    sel = predictions[predictions["split"] == split]
    out = {}
    for name, galaxies in groups.items():
        g = sel[sel["galaxy"].isin(galaxies)]
        if len(g):
            out[name] = (scatter(g["log_age_pred"], g["log_age_true"]),
                         scatter(np.full(len(g), train_mean), g["log_age_true"]), len(g), train_mean)
    return out


def group_table(grid: Plan, boot: Bootstrap, split: str = "test",
                reps: Replicates | None = None) -> pd.DataFrame:
    """Paper Fig. 7's numbers: each (case, diameter) scored per galaxy group (the plan's
    subsamples), mean over seeds, with intervals on the test split (``reps``: the grid's
    replicates, made here if not given).

    Built from the runs' per-cluster predictions, so no extra model is trained.
    """
    groups = grid.subsamples
    n_expected = len(grid.seeds)
    cache: dict[str, dict] = {}
    per_run = []
    for run in grid.runs():
        path = Path(run["run_dir"]) / "predictions.csv"
        if run["run_dir"] not in cache:
            try:
                cache[run["run_dir"]] = _group_scores(pd.read_csv(path), groups, split)
            except (OSError, pd.errors.ParserError, KeyError):
                cache[run["run_dir"]] = None
        scores = cache[run["run_dir"]]
        for group, (s, b, n, train_mean) in (scores or {}).items():
            per_run.append({**run, "group": group, "scatter": s, "null": b, "n": n,
                            "train_mean": train_mean})
    rows = []
    if per_run and split == INTERVAL_SPLIT and reps is None:
        reps = replicates(grid, {}, boot)
    if per_run:
        df = pd.DataFrame(per_run)
        keys = ["case", "channels", "sample", "mask", "diameter", "diameter_unit", "shuffled_labels", "group"]
        for key, g in df.groupby(keys, sort=False):
            values = g["scatter"].to_numpy(float)
            mean, b = float(values.mean()), float(g["null"].iloc[0])
            ci = _group_intervals(reps, g.iloc[0], groups) if split == INTERVAL_SPLIT else {}
            rows.append({**ci, **dict(zip(keys, key)), "split": split, "scatter_mean": mean,
                         "scatter_std": seed_spread(values),
                         "n_seeds": len(values), "n_seeds_expected": n_expected,
                         "complete": len(values) == n_expected, "n_clusters": int(g["n"].iloc[0]),
                         "null_scatter": b, "predictive_power": float(predictive_power(b, mean)),
                         "relative_error_pct": float(relative_error(b, mean))})
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


def _group_intervals(reps: Replicates, run: pd.Series, groups: dict) -> dict:
    """Interval columns of one (setting, galaxy group) row: scatter, predictive power and
    relative error, the group's null scored on the same drawn clusters."""
    train_mean = float(run["train_mean"])
    scored = reps.group(run["setting"], groups[run["group"]], run["group"], train_mean)
    if scored is None:
        return {}
    model, null = scored
    out = interval_columns(model, null, reps.boot)
    out["relative_error_ci_low"], out["relative_error_ci_high"] = reps.boot.interval(
        relative_error(null.replicates, model.replicates))
    return out


def tidy(grid: Plan, per_seed: pd.DataFrame, nulls: dict, reps: Replicates) -> pd.DataFrame:
    """Mean and std over seeds per (case, diameter, split), with the null predictor beside it,
    and on the test split the 95% intervals of the scatter and of the predictive power."""
    boot = reps.boot
    no_interval = interval_columns(None, None, boot)
    n_expected = len(grid.seeds)
    rows = []
    for case in grid.cases.values():
        for setting in case.settings:
            sel = (per_seed[(per_seed["case"] == case.name) & (per_seed["diameter"] == setting.diameter)]
                   if len(per_seed) else per_seed)
            null = nulls.get(setting.sample) or {}
            for split in SPLITS:
                values = sel[split].to_numpy(dtype=float) if len(sel) else np.array([])
                b = null.get(split, np.nan)
                mean = float(values.mean()) if len(values) else np.nan
                ci = (interval_columns(reps.settings.get(setting.name), reps.nulls.get(setting.sample), boot)
                      if split == INTERVAL_SPLIT else no_interval)
                rows.append({**ci,
                    "case": case.name, "channels": setting.channels, "sample": setting.sample,
                    "mask": case.mask, "diameter": setting.diameter,
                    "diameter_unit": case.unit,
                    "shuffled_labels": setting.shuffled_labels, "split": split,
                    "scatter_mean": mean,
                    "scatter_std": seed_spread(values),
                    "n_seeds": int(len(values)), "n_seeds_expected": n_expected,
                    "complete": bool(len(values) == n_expected),
                    "null_scatter": b,
                    "predictive_power": float(predictive_power(b, mean)),
                    "relative_error_pct": float(relative_error(b, mean)),
                })
    # Null predictor rows, one per sample, so a table alone draws the dashed line / null bar.
    for sample, null in sorted(nulls.items()):
        for split in SPLITS:
            b = (null or {}).get(split, np.nan)
            ci = no_interval
            if split == INTERVAL_SPLIT and sample in reps.nulls:
                ci = no_interval | dict(zip(INTERVAL_COLUMNS[:2], boot.interval(reps.nulls[sample].replicates)),
                                        resampled="clusters")
            rows.append({**ci, "case": "null_predictor", "channels": "", "sample": sample, "mask": "none",
                         "diameter": 0, "diameter_unit": "px", "shuffled_labels": False, "split": split,
                         "scatter_mean": b, "scatter_std": 0.0, "n_seeds": 1 if null else 0,
                         "n_seeds_expected": 1, "complete": bool(null), "null_scatter": b,
                         "predictive_power": 0.0, "relative_error_pct": 100.0})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def write_tables(grid: Plan, boot: Bootstrap, table_path, per_seed_path, missing_path=None,
                 groups_path=None, differences_path=None) -> pd.DataFrame:
    """Write the tidy table, the per-seed table and, if asked, missing runs, group scores and
    the comparisons of settings with their intervals."""
    import logging

    from clusterage.atomic import atomic_path

    from .comparisons import differences

    log = logging.getLogger(__name__)
    per_seed, table, missing, reps = _collect(grid, boot)
    for path in missing:
        log.warning("missing run: %s", path)
    incomplete = table[~table["complete"]]
    if len(incomplete):
        log.warning("%d rows have fewer seeds than asked; they are marked complete=False",
                    len(incomplete))
    with atomic_path(per_seed_path) as tmp:
        per_seed.to_csv(tmp, index=False)
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5g")
    if missing_path is not None:
        with atomic_path(missing_path) as tmp:
            missing_runs(grid).to_csv(tmp, index=False)
    if groups_path is not None:
        groups = group_table(grid, boot, reps=reps)
        with atomic_path(groups_path) as tmp:
            groups.to_csv(tmp, index=False, float_format="%.5g")
        log.info("group table: %d rows (groups %s)", len(groups), sorted(grid.subsamples))
    if differences_path is not None:
        diffs = differences(grid, table, reps)
        with atomic_path(differences_path) as tmp:
            diffs.to_csv(tmp, index=False, float_format="%.5g")
        log.info("differences: %d comparisons (%d paired)", len(diffs), int(diffs["paired"].sum()))
    log.info("scatter table: %d rows, %d runs, %d missing", len(table), len(per_seed), len(missing))
    return table
