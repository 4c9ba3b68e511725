"""Summarise runs that differ only in how clusters are split (split.group), to measure leakage.

    clusterage leakage results/leakage --out docs/figures/leakage

reads ``<root>/env<E>/<group>-<split seed>/`` results folders (tables/scatter_per_seed.csv,
each run's predictions, null/<sample>.json, null/<sample>_overlap.csv) and writes ``<out>.csv``
(one row per run, case and model seed), ``<out>_summary.csv`` (mean and spread per env, case and
group, with 95% intervals of the relative error and of its difference from the ``overlap``
split's) and ``<out>.png/.pdf``.

The intervals redraw three levels (clusterage.analysis.uncertainty): the split seeds, and within each
split its test clusters and its models. Splits have different test sets, so the comparison of two
kinds of split is unpaired.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.analysis.aggregate import seed_spread
from clusterage.analysis.comparisons import WHERE
from clusterage.analysis.replicates import from_results
from clusterage.analysis.uncertainty import Bootstrap
from clusterage.atomic import atomic_path
from clusterage.grid import SPLIT_GROUPS as GROUPS
from clusterage.grid import Setting
from clusterage.report.figures import save

_RUN = re.compile(r"^(?P<group>[a-z]+)-(?P<split_seed>\d+)$")


def collect(root) -> pd.DataFrame:
    """Test scatter of every model, its run's null scatter and how leaky its test set was."""
    rows = []
    for env_dir in sorted(Path(root).glob("env*")):
        for run in sorted(p for p in env_dir.iterdir() if p.is_dir() and _RUN.match(p.name)):
            per_seed = run / "tables" / "scatter_per_seed.csv"
            if not per_seed.exists():
                continue
            m = _RUN.match(run.name)
            table = pd.read_csv(per_seed)
            for sample, part in table.groupby("sample"):
                null = json.loads((run / "null" / f"{sample}.json").read_text())
                report = pd.read_csv(run / "null" / f"{sample}_overlap.csv").set_index("galaxy")
                group = m["group"]
                leaky = report.loc["all", f"test_overlapping_train_{group}"]
                n_test = report.loc["all", f"test_{group}"]
                for r in part.to_dict("records"):
                    rows.append({"env": env_dir.name, "case": r["case"], "group": group,
                                 "channels": r.get("channels"), "mask": r.get("mask", "none"),
                                 "diameter": r.get("diameter", 0),
                                 "diameter_unit": r.get("diameter_unit", "px"),
                                 "split_seed": int(m["split_seed"]), "seed": int(r["seed"]),
                                 "test_scatter": r["test"], "null_test_scatter": null["test"],
                                 "relative_error_pct": 100.0 * r["test"] / null["test"],
                                 "n_test": int(n_test), "test_overlapping_train": int(leaky)})
    if not rows:
        raise FileNotFoundError(f"no finished run under {root} (env*/<group>-<seed>/tables/)")
    return pd.DataFrame(rows)


def relative_error_replicates(run: Path, boot: Bootstrap) -> dict[str, np.ndarray]:
    """Per setting of one results folder, its test relative error (100 x scatter / null scatter,
    the null scored on the same drawn clusters) in each replicate."""
    reps = from_results(run, boot)
    return {name: 100.0 * scored.replicates / reps.nulls[reps.sample_of[name]].replicates
            for name, scored in reps.settings.items()}


def _setting_of(row) -> str:
    unit = "pc" if row.get("diameter_unit") == "pc" else "px"
    return Setting(row["channels"], "full", row["mask"], int(row["diameter"]), unit=unit).name


def group_replicates(root, runs: pd.DataFrame, boot: Bootstrap) -> dict[tuple, np.ndarray]:
    """Per (env, case, group): the mean relative error over the split seeds in each replicate,
    the split seeds redrawn with replacement, each with its own cluster and model draws."""
    by_folder: dict = {}
    out = {}
    for (env, case, group), t in runs.groupby(["env", "case", "group"], sort=False):
        per_split = []
        for split_seed in sorted(set(t["split_seed"])):
            folder = Path(root) / env / f"{group}-{split_seed}"
            if folder not in by_folder:
                by_folder[folder] = relative_error_replicates(folder, boot)
            setting = _setting_of(t[t["split_seed"] == split_seed].iloc[0])
            if setting in by_folder[folder]:
                per_split.append(by_folder[folder][setting])
        if per_split:
            stack = np.stack(per_split)                  # (split seeds, resamples)
            pick = boot.rng("splits", env, case, group).integers(0, len(stack), (stack.shape[1], len(stack)))
            out[env, case, group] = stack[pick, np.arange(stack.shape[1])[:, None]].mean(axis=1)
    return out


def summarise(runs: pd.DataFrame, reps: dict | None = None, boot: Bootstrap | None = None) -> pd.DataFrame:
    """Mean and population standard deviation (ddof 0, as every table) over split seeds and model
    seeds per (env, case, group), and
    the difference of each group's mean relative error from the ``overlap`` split's; with the
    replicates of ``group_replicates``, the 95% intervals of both and where the difference's
    interval lies."""
    runs = runs.assign(pct=100.0 * runs["test_overlapping_train"] / runs["n_test"])
    g = runs.groupby(["env", "case", "group"], sort=False)
    out = g.agg(n_models=("test_scatter", "size"),
                test_scatter=("test_scatter", "mean"), test_scatter_std=("test_scatter", seed_spread),
                null_test_scatter=("null_test_scatter", "mean"),
                relative_error_pct=("relative_error_pct", "mean"),
                relative_error_std=("relative_error_pct", seed_spread),
                test_overlapping_train_pct=("pct", "mean")).reset_index()
    ref = out[out["group"] == "overlap"].set_index(["env", "case"])["relative_error_pct"]
    out["minus_overlap_pct"] = [r - ref.get((e, c), np.nan) for e, c, r in
                                zip(out["env"], out["case"], out["relative_error_pct"])]
    if reps is not None:
        intervals = []
        for e, c, g in zip(out["env"], out["case"], out["group"]):
            mine, overlap = reps.get((e, c, g)), reps.get((e, c, "overlap"))
            lo, hi = boot.interval(mine) if mine is not None else (np.nan, np.nan)
            dlo, dhi = (boot.interval(mine - overlap) if mine is not None and overlap is not None
                        and g != "overlap" else (np.nan, np.nan))
            where = 1 if dlo > 0 else -1 if dhi < 0 else 0
            intervals.append({"relative_error_ci_low": lo, "relative_error_ci_high": hi,
                              "minus_overlap_ci_low": dlo, "minus_overlap_ci_high": dhi,
                              "minus_overlap_interval": WHERE[where] if np.isfinite(dlo) else ""})
        out = pd.concat([out, pd.DataFrame(intervals, index=out.index)], axis=1)
    out["group"] = pd.Categorical(out["group"], GROUPS, ordered=True)
    return out.sort_values(["env", "case", "group"], ascending=[False, True, True]).reset_index(drop=True)


GROUP_LABEL = {"none": "random", "overlap": "overlaps\ngrouped", "galaxy": "galaxy\nheld out"}


def _panel_title(env: str, case: str, runs: pd.DataFrame) -> str:
    """``env1``, ``white_light_inner`` -> words: the environment's strength, channels and mask."""
    row = runs[(runs["env"] == env) & (runs["case"] == case)].iloc[0]
    what = {"five_band": "five-band", "white_light": "white-light"}.get(row.get("channels"), case)
    if row.get("mask", "none") != "none":
        what += f", {row['mask']} mask D = {row['diameter']:g} {row.get('diameter_unit', 'px')}"
    return f"environment strength {env.removeprefix('env')}\n{what}"


def plot(runs: pd.DataFrame, paths, summary: pd.DataFrame | None = None) -> None:
    """Each model's relative error per kind of split (points), their mean (bar) and, with the
    ``summary`` of ``summarise``, the mean's 95% interval (error bar)."""
    import matplotlib.pyplot as plt

    panels = list(runs.groupby(["env", "case"], sort=True).groups)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4), sharey=True,
                             squeeze=False)
    for ax, (env, case) in zip(axes[0], panels):
        sel = runs[(runs["env"] == env) & (runs["case"] == case)]
        for k, group in enumerate(GROUPS):
            v = sel.loc[sel["group"] == group, "relative_error_pct"].to_numpy()
            if len(v):
                ax.scatter(np.full(len(v), k) + np.linspace(-0.12, 0.12, len(v)), v, s=18,
                           color="0.4", zorder=3)
                ax.hlines(v.mean(), k - 0.3, k + 0.3, color="black", lw=2)
            ci = None if summary is None or "relative_error_ci_low" not in summary else summary[
                (summary["env"] == env) & (summary["case"] == case) & (summary["group"] == group)]
            if ci is not None and len(ci) and np.isfinite(ci["relative_error_ci_low"].iloc[0]):
                mean = float(ci["relative_error_pct"].iloc[0])
                ax.errorbar(k + 0.34, mean, yerr=[[mean - ci["relative_error_ci_low"].iloc[0]],
                                                  [ci["relative_error_ci_high"].iloc[0] - mean]],
                            color="black", capsize=3, lw=1)
        ax.axhline(100, color="grey", ls=":", lw=1)
        ax.set_xticks(range(len(GROUPS)), [GROUP_LABEL.get(g, g) for g in GROUPS], fontsize=8)
        ax.set_title(_panel_title(env, case, runs), fontsize=9)
    axes[0][0].set_ylabel("test scatter / null predictor's scatter (%)")
    fig.suptitle("Test scatter by kind of split (points: split seeds x model seeds; bar: mean; "
                 "error bar: its 95% interval)", fontsize=10)
    fig.tight_layout()
    save(fig, paths)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="clusterage leakage",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("root", help="folder holding env<E>/<group>-<seed>/ results folders")
    ap.add_argument("--out", required=True, help="output path without suffix")
    ap.add_argument("--configfile", nargs="*", default=[], metavar="FILE",
                    help="config files whose 'uncertainty' draws the intervals (default: the schema's)")
    args = ap.parse_args(argv)
    from clusterage.configfile import load_config

    boot = Bootstrap.from_config(load_config(Path("."), args.configfile))
    runs = collect(args.root)
    summary = summarise(runs, group_replicates(args.root, runs, boot), boot)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out.with_suffix(".csv")) as tmp:
        runs.to_csv(tmp, index=False)
    with atomic_path(out.with_name(out.name + "_summary.csv")) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.4g")
    plot(runs, [out.with_suffix(".png"), out.with_suffix(".pdf")], summary)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
