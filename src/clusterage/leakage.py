"""Summarise runs that differ only in how clusters are split (split.group), to measure leakage.

    python -m clusterage.leakage results/leakage --out docs/figures/leakage

reads ``<root>/env<E>/<group>-<split seed>/`` results folders (tables/scatter_per_seed.csv and
null/<sample>.json, null/<sample>_overlap.csv) and writes ``<out>.csv`` (one row per run, case and
model seed), ``<out>_summary.csv`` (mean and spread per env, case and group) and ``<out>.png/.pdf``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .figures import save
from .grid import SPLIT_GROUPS as GROUPS
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


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over split seeds and model seeds per (env, case, group), and
    the difference of each group's mean relative error from the ``overlap`` split's."""
    runs = runs.assign(pct=100.0 * runs["test_overlapping_train"] / runs["n_test"])
    g = runs.groupby(["env", "case", "group"], sort=False)
    out = g.agg(n_models=("test_scatter", "size"),
                test_scatter=("test_scatter", "mean"), test_scatter_std=("test_scatter", "std"),
                null_test_scatter=("null_test_scatter", "mean"),
                relative_error_pct=("relative_error_pct", "mean"),
                relative_error_std=("relative_error_pct", "std"),
                test_overlapping_train_pct=("pct", "mean")).reset_index()
    ref = out[out["group"] == "overlap"].set_index(["env", "case"])["relative_error_pct"]
    out["minus_overlap_pct"] = [r - ref.get((e, c), np.nan) for e, c, r in
                                zip(out["env"], out["case"], out["relative_error_pct"])]
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


def plot(runs: pd.DataFrame, paths) -> None:
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
        ax.axhline(100, color="grey", ls=":", lw=1)
        ax.set_xticks(range(len(GROUPS)), [GROUP_LABEL.get(g, g) for g in GROUPS], fontsize=8)
        ax.set_title(_panel_title(env, case, runs), fontsize=9)
    axes[0][0].set_ylabel("test scatter / null predictor's scatter (%)")
    fig.suptitle("Test scatter by kind of split (points: split seeds x model seeds; bar: mean)",
                 fontsize=10)
    fig.tight_layout()
    save(fig, paths)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="folder holding env<E>/<group>-<seed>/ results folders")
    ap.add_argument("--out", required=True, help="output path without suffix")
    args = ap.parse_args(argv)
    runs = collect(args.root)
    summary = summarise(runs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out.with_suffix(".csv")) as tmp:
        runs.to_csv(tmp, index=False)
    with atomic_path(out.with_name(out.name + "_summary.csv")) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.4g")
    plot(runs, [out.with_suffix(".png"), out.with_suffix(".pdf")])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
