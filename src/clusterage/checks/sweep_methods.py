"""How close the cheaper estimates of a mask sweep come to retraining every point from scratch.

    clusterage sweep-methods SCRATCH WARM [--out PATH]

SCRATCH is the results folder of a sweep trained from scratch (the paper's way, the reference),
whose attribution step explains its unmasked models, so that their test-time occlusion comes
with it; WARM is the same config run with ``warm_start: {enabled: true}`` in its own results
folder (docs/warm-start.md). Three curves of test scatter against the mask diameter, each with
its 95% interval, per channels, sample and mask:

- ``retrained``: every point a model trained from scratch with its mask (``tables/scatter.csv``);
- ``warm_start``: every masked point fine-tuned from the unmasked model of the same seed;
- ``test_time_occlusion``: the unmasked models, shown the masked test cutouts without retraining
  (``tables/test_time_occlusion.csv``).

Writes ``<out>.csv`` (every point of the three curves, each with its difference from the
retrained point and whether it lies outside the retrained 95% interval), ``<out>-summary.csv``
(per method, channels, sample and mask: the largest and mean |difference|, the diameters outside
the retrained interval, and the cost of the masked points: training epochs run and CPU-seconds of
their jobs, from the runs' histories and Snakemake's benchmarks) and ``<out>.png``/``.pdf``.
The occlusion's CPU-seconds are those of the attribution jobs that compute it, with the maps
beside it: an upper bound.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.atomic import atomic_path
from clusterage.grid import parse_occlusion

METHODS = ("retrained", "warm_start", "test_time_occlusion")
LABELS = {"retrained": "retrained from scratch (the paper)", "warm_start": "warm-started",
          "test_time_occlusion": "test-time occlusion (no retraining)"}
KEYS = ["channels", "sample", "mask", "diameter"]
POINT_COLUMNS = ["method", *KEYS, "scatter_mean", "scatter_ci_low", "scatter_ci_high", "n_seeds",
                 "difference", "outside_retrained_interval"]
SUMMARY_COLUMNS = ["method", "channels", "sample", "mask", "n_points", "max_abs_difference",
                   "mean_abs_difference", "n_outside", "diameters_outside", "training_epochs",
                   "cpu_seconds", "epochs_vs_retrained", "cpu_vs_retrained"]


def _read(path: Path, columns) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: is {path.parents[1]} a finished run?")
    table = pd.read_csv(path, dtype={"labels": str, "occlusion": str})
    lacking = [c for c in columns if c not in table.columns]
    if lacking:
        raise ValueError(f"{path} lacks column(s) {', '.join(lacking)}")
    return table


def trained_curve(results, method: str) -> pd.DataFrame:
    """The test scatters of a run's true-label sweeps (inner and outer masks, in pixels)."""
    path = Path(results) / "tables" / "scatter.csv"
    table = _read(path, [*KEYS, "split", "case", "shuffled_labels", "diameter_unit",
                         "scatter_mean", "scatter_ci_low", "scatter_ci_high", "n_seeds"])
    keep = ((table["split"] == "test") & table["mask"].isin(["inner", "outer"])
            & ~table["shuffled_labels"].astype(bool) & (table["diameter_unit"] == "px")
            & (table["case"] != "null_predictor"))
    curve = table[keep].drop_duplicates(KEYS)
    return curve.assign(method=method)[["method", *KEYS, "scatter_mean", "scatter_ci_low",
                                        "scatter_ci_high", "n_seeds"]]


def occlusion_curve(results) -> pd.DataFrame:
    """The unmasked true-label models' test scatter under test-time occlusion."""
    path = Path(results) / "tables" / "test_time_occlusion.csv"
    table = _read(path, [*KEYS, "labels", "occlusion", "scatter_mean", "scatter_ci_low",
                         "scatter_ci_high", "n_seeds"])
    keep = (table["labels"] == "true") & (table["occlusion"] == "none")
    return table[keep].assign(method="test_time_occlusion")[
        ["method", *KEYS, "scatter_mean", "scatter_ci_low", "scatter_ci_high", "n_seeds"]]


def points(scratch, warm) -> pd.DataFrame:
    """The three curves, each point beside the retrained one of the same channels, sample, mask
    and diameter (points without a retrained one are dropped)."""
    retrained = trained_curve(scratch, "retrained")
    curves = pd.concat([retrained, trained_curve(warm, "warm_start"), occlusion_curve(scratch)],
                       ignore_index=True)
    ref = retrained.set_index(KEYS)[["scatter_mean", "scatter_ci_low", "scatter_ci_high"]]
    ref.columns = ["ref", "ref_low", "ref_high"]
    out = curves.join(ref, on=KEYS, how="inner")
    out["difference"] = out["scatter_mean"] - out["ref"]
    out["outside_retrained_interval"] = ((out["scatter_mean"] < out["ref_low"])
                                         | (out["scatter_mean"] > out["ref_high"]))
    order = {m: i for i, m in enumerate(METHODS)}
    out = out.sort_values(KEYS, kind="stable").sort_values("method", key=lambda m: m.map(order),
                                                           kind="stable")
    return out[POINT_COLUMNS].reset_index(drop=True)


def run_costs(results) -> pd.DataFrame:
    """Per fixed-split training run of a results folder: its setting's channels, sample, mask
    and diameter, the epochs it ran (rows of history.csv) and its job's CPU-seconds (Snakemake's
    benchmark; NaN where there is none)."""
    results = Path(results)
    rows = []
    for history in sorted((results / "train").glob("*/*/*/*/seed*/history.csv")):
        run = history.parent
        sample, channels, occlusion, labels = run.relative_to(results / "train").parts[:4]
        mask, diameter, unit = parse_occlusion(occlusion)
        bench = results / "benchmarks" / "train" / run.relative_to(results / "train").with_suffix(".tsv")
        cpu = float(pd.read_csv(bench, sep="\t")["cpu_time"].sum()) if bench.is_file() else np.nan
        rows.append({"channels": channels, "sample": sample, "mask": mask, "diameter": diameter,
                     "unit": unit, "labels": labels, "epochs": len(pd.read_csv(history)),
                     "cpu_seconds": cpu})
    return pd.DataFrame(rows, columns=["channels", "sample", "mask", "diameter", "unit", "labels",
                                       "epochs", "cpu_seconds"])


def occlusion_cpu(results) -> pd.DataFrame:
    """CPU-seconds of the attribution jobs of each unmasked true-label setting (all seeds)."""
    results = Path(results)
    rows = []
    for bench in sorted((results / "benchmarks" / "attribution").glob("*/*/none/true/seed*.tsv")):
        sample, channels = bench.relative_to(results / "benchmarks" / "attribution").parts[:2]
        rows.append({"channels": channels, "sample": sample,
                     "cpu_seconds": float(pd.read_csv(bench, sep="\t")["cpu_time"].sum())})
    return (pd.DataFrame(rows, columns=["channels", "sample", "cpu_seconds"])
            .groupby(["channels", "sample"], as_index=False)["cpu_seconds"].sum())


def summary(table: pd.DataFrame, scratch, warm) -> pd.DataFrame:
    """Per method, channels, sample and mask: how far the curve lies from the retrained one and
    what its masked points cost (D > 0; the unmasked models are the same for every method)."""
    costs = {"retrained": run_costs(scratch), "warm_start": run_costs(warm)}
    occlusion = occlusion_cpu(scratch)
    rows = []
    for (method, channels, sample, mask), group in table.groupby(
            ["method", "channels", "sample", "mask"], sort=False):
        masked = group[group["diameter"] > 0]
        if method == "test_time_occlusion":
            cpu = occlusion.loc[(occlusion["channels"] == channels)
                                & (occlusion["sample"] == sample), "cpu_seconds"].sum()
            epochs = 0
        else:
            c = costs[method]
            c = c[(c["channels"] == channels) & (c["sample"] == sample) & (c["mask"] == mask)
                  & (c["diameter"] > 0) & (c["unit"] == "px") & (c["labels"] == "true")
                  & c["diameter"].isin(masked["diameter"])]
            epochs, cpu = int(c["epochs"].sum()), float(c["cpu_seconds"].sum())
        outside = masked.loc[masked["outside_retrained_interval"], "diameter"].tolist()
        rows.append({"method": method, "channels": channels, "sample": sample, "mask": mask,
                     "n_points": len(masked),
                     "max_abs_difference": masked["difference"].abs().max(),
                     "mean_abs_difference": masked["difference"].abs().mean(),
                     "n_outside": len(outside),
                     "diameters_outside": " ".join(str(int(d)) for d in outside),
                     "training_epochs": epochs, "cpu_seconds": cpu})
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS[:-2])
    ref = out[out["method"] == "retrained"].set_index(["channels", "sample", "mask"])
    key = out.set_index(["channels", "sample", "mask"]).index
    with np.errstate(divide="ignore", invalid="ignore"):
        out["epochs_vs_retrained"] = out["training_epochs"].to_numpy() / ref["training_epochs"].reindex(key).to_numpy()
        out["cpu_vs_retrained"] = out["cpu_seconds"].to_numpy() / ref["cpu_seconds"].reindex(key).to_numpy()
    return out[SUMMARY_COLUMNS]


def plot(table: pd.DataFrame, paths) -> None:
    """One panel per channels and mask (first sample): the three curves with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sample = table["sample"].iloc[0]
    panels = table[table["sample"] == sample][["channels", "mask"]].drop_duplicates()
    panels = panels.sort_values(["mask", "channels"]).itertuples(index=False)
    panels = list(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.3), squeeze=False,
                             sharey=True)
    styles = {"retrained": ("k", "o", "-"), "warm_start": ("tab:blue", "s", "--"),
              "test_time_occlusion": ("tab:orange", "^", ":")}
    for ax, (channels, mask) in zip(axes[0], panels):
        for method in METHODS:
            curve = table[(table["method"] == method) & (table["channels"] == channels)
                          & (table["mask"] == mask) & (table["sample"] == sample)]
            if not len(curve):
                continue
            colour, marker, line = styles[method]
            ax.fill_between(curve["diameter"], curve["scatter_ci_low"], curve["scatter_ci_high"],
                            color=colour, alpha=0.15, lw=0)
            ax.plot(curve["diameter"], curve["scatter_mean"], color=colour, marker=marker, ms=3.5,
                    ls=line, label=LABELS[method])
        ax.set_title(f"{channels.replace('_', ' ')}, {mask} mask", fontsize=9)
        ax.set_xlabel(f"{mask} mask diameter D (pixels)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("test scatter (dex)", fontsize=8)
    axes[0, 0].legend(fontsize=6.5, loc="best")
    fig.tight_layout()
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=150)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="clusterage sweep-methods",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("scratch", help="results folder of the sweep trained from scratch")
    ap.add_argument("warm", help="results folder of the same sweep with warm_start enabled")
    ap.add_argument("--out", help="output path without suffix: <out>.csv, <out>-summary.csv, "
                                  "<out>.png and <out>.pdf")
    args = ap.parse_args(argv)
    table = points(args.scratch, args.warm)
    if not len(table):
        raise SystemExit(f"clusterage sweep-methods: {args.scratch} has no inner or outer sweep "
                         "in pixels to compare")
    result = summary(table, args.scratch, args.warm)
    if args.out:
        with atomic_path(f"{args.out}.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.4f")
        with atomic_path(f"{args.out}-summary.csv") as tmp:
            result.to_csv(tmp, index=False, float_format="%.4f")
        plot(table, [f"{args.out}.png", f"{args.out}.pdf"])
    print(result.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
