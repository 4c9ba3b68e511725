"""Compare runs on the synthetic survey with and without the planted signal.

    clusterage known-answer results/known_answer/env1 results/known_answer/env0 \
        --labels "env_strength 1" "env_strength 0" --out docs/figures/known_answer

writes ``<out>.csv`` (test scatter per case and run with its 95% interval, the null beside it)
and ``<out>.png/.pdf``; where the runs explained models (attribution), also
``<out>_attribution.csv`` (per run, setting, method and quantity, the share beyond r = 12 px of
|attribution| and of the predictions' spread across the test clusters: mean and population
standard deviation (ddof 0) over seeds, its 95% interval and the seeds' values) and
``<out>_attribution.png/.pdf``. With two runs (the first with the planted signal, the second
without), ``<out>_checks.csv`` holds every known-answer check decided by the one rule of
clusterage.analysis.uncertainty: the interval of the difference, here unpaired (two surveys).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.analysis.aggregate import seed_spread
from clusterage.analysis.attribution import INNER_RADIUS, METHOD_LABEL
from clusterage.analysis.attribution_intervals import (
    at,
    files,
    occlusion_replicates,
    profile_replicates,
)
from clusterage.analysis.comparisons import WHERE
from clusterage.analysis.uncertainty import Bootstrap, Estimate
from clusterage.atomic import atomic_path
from clusterage.grid import ENVIRONMENT_DIAMETER_PX, Setting
from clusterage.report.attribution_report import (
    PROFILE_PANELS,
    QUANTITY_LABEL,
    outside_share,
)
from clusterage.report.figures import case_label, interval_err, save


def compare(results_dirs, labels) -> pd.DataFrame:
    """Test-split rows of each run's scatter table (tables/scatter.csv, else the partial
    report's partial/tables/scatter.csv), one column block per run."""
    rows = []
    for folder, label in zip(results_dirs, labels):
        path = Path(folder) / "tables" / "scatter.csv"
        if not path.exists():  # a run still going: the partial report's table of what exists
            path = Path(folder) / "partial" / "tables" / "scatter.csv"
        table = pd.read_csv(path)
        test = table[table["split"] == "test"].copy()
        # The null predictor of the cases' samples (the table also scores bar-chart samples).
        cases = test["case"] != "null_predictor"
        test = test[cases | test["sample"].isin(test.loc[cases, "sample"])]
        test["run"] = label
        test["label"] = test.apply(case_label, axis=1)
        rows.append(test)
    out = pd.concat(rows, ignore_index=True)
    return out[["run", "label", "case", "channels", "mask", "diameter", "scatter_mean",
                "scatter_std", "scatter_ci_low", "scatter_ci_high", "n_seeds", "null_scatter",
                "relative_error_pct"]]


def outside_replicates(results_dir, boot: Bootstrap, radius: int = INNER_RADIUS) -> dict:
    """Per (setting, method, quantity) of a results folder, the share beyond ``radius`` in each
    replicate (its own cluster draws: another survey is unpaired)."""
    curves = profile_replicates(files(results_dir, "profiles.csv"), boot, key=str(results_dir))
    return {k: 1.0 - at(c, radius) for k, c in curves.items()}


def compare_attribution(results_dirs, labels, boot: Bootstrap, radius: int = INNER_RADIUS) -> pd.DataFrame:
    """Per run, setting, method and quantity, the share beyond ``radius`` over seeds: of
    |attribution| (``abs_fraction``) and of the predictions' spread across the test clusters
    (``spread_share``, Integrated Gradients), with its 95% interval."""
    rows = []
    for folder, label in zip(results_dirs, labels):
        profiles = files(folder, "profiles.csv")
        if not profiles:
            continue
        per_seed = outside_share(profiles, radius)
        reps = outside_replicates(folder, boot, radius)
        for (setting, method, quantity), t in per_seed.groupby(["setting", "method", "quantity"]):
            t = t.sort_values("seed")
            lo, hi = boot.interval(reps[setting, method, quantity]) if (
                setting, method, quantity) in reps else (np.nan, np.nan)
            rows.append({"run": label, "setting": setting, "method": method, "quantity": quantity,
                         "radius": radius, "outside_mean": t["outside"].mean(),
                         "outside_std": seed_spread(t["outside"]), "outside_ci_low": lo,
                         "outside_ci_high": hi, "n_seeds": len(t),
                         "per_seed": " ".join(f"{v:.4f}" for v in t["outside"])})
    return pd.DataFrame(rows, columns=["run", "setting", "method", "quantity", "radius",
                                       "outside_mean", "outside_std", "outside_ci_low",
                                       "outside_ci_high", "n_seeds", "per_seed"])


CHECK_COLUMNS = ["check", "expected", "with_signal", "without_signal", "difference", "ci_low",
                 "ci_high", "interval", "verdict", "seeds"]


def _check(name: str, on_value, off_value, on_reps, off_reps, boot: Bootstrap, seeds: str) -> dict:
    """A check that the reading is larger with the planted signal than without (unpaired)."""
    est = Estimate(on_value - off_value, *boot.interval(on_reps - off_reps))
    where = est.excludes_zero()
    return {"check": name, "expected": "larger with the signal", "with_signal": on_value,
            "without_signal": off_value, "difference": est.value, "ci_low": est.low,
            "ci_high": est.high, "interval": WHERE[where],
            "verdict": {1: "met", -1: "CONTRADICTED", 0: "undecided"}[where], "seeds": seeds}


def checks(on_dir, off_dir, boot: Bootstrap, radius: int = INNER_RADIUS) -> pd.DataFrame:
    """Every known-answer check of two runs (with and without the planted environment), each
    decided by the 95% interval of its difference: met (interval above 0), CONTRADICTED (below)
    or undecided. Two surveys share no clusters, so every difference is unpaired.

    - attribution: the share beyond r = 12 px of the predictions' spread and of |attribution|
      (Integrated Gradients, each unmasked setting explained in both runs);
    - test-time occlusion: the cost of hiding the environment at inference (outer mask
      D = 24 against no mask), each unmasked setting.
    """
    rows = []
    on_reps, off_reps = outside_replicates(on_dir, boot, radius), outside_replicates(off_dir, boot, radius)
    on_t = compare_attribution([on_dir], ["on"], boot, radius)
    off_t = compare_attribution([off_dir], ["off"], boot, radius)
    words = {"spread_share": "share of the predictions' spread", "abs_fraction": "share of |attribution|"}
    for key in sorted(set(on_reps) & set(off_reps)):
        setting, method, quantity = key
        if method != "integrated_gradients":
            continue
        a = on_t.set_index(["setting", "method", "quantity"]).loc[key]
        b = off_t.set_index(["setting", "method", "quantity"]).loc[key]
        rows.append(_check(f"{_channels(setting)}: {words[quantity]} beyond r = {radius} px",
                           a["outside_mean"], b["outside_mean"], on_reps[key], off_reps[key], boot,
                           f"{a['n_seeds']} / {b['n_seeds']}"))
    d = ENVIRONMENT_DIAMETER_PX
    on_occ = occlusion_replicates(files(on_dir, "maps.h5"), boot, key=str(on_dir))
    off_occ = occlusion_replicates(files(off_dir, "maps.h5"), boot, key=str(off_dir))
    for setting, mask in sorted(set(on_occ) & set(off_occ)):
        if mask != "outer":
            continue
        a, b = on_occ[setting, mask], off_occ[setting, mask]
        rows.append(_check(f"{_channels(setting)}: test-time cost of hiding the environment "
                           f"(outer D = {d} px), dex", _occlusion_cost(on_dir, setting, d),
                           _occlusion_cost(off_dir, setting, d), at(a, d) - at(a, 0),
                           at(b, d) - at(b, 0), boot, f"{a.n_models} / {b.n_models}"))
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def _channels(setting: str) -> str:
    return Setting.from_name(setting).channels


def _occlusion_cost(results_dir, setting: str, diameter: int) -> float:
    """The mean over seeds of (scatter at D) - (scatter unmasked) under test-time outer masks."""
    table = pd.concat([pd.read_csv(f) for f in files(results_dir, "occlusion.csv")], ignore_index=True)
    t = table[(table["setting"] == setting) & (table["mask"] == "outer")]
    by = t.pivot_table(index="seed", columns="diameter", values="scatter")
    return float((by[diameter] - by[0]).mean())


def plot_attribution(table: pd.DataFrame, paths) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    runs = list(dict.fromkeys(table["run"]))
    panels = [p for p in PROFILE_PANELS
              if ((table["method"] == p[0]) & (table["quantity"] == p[1])).any()]
    radius = int(table["radius"].iloc[0])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    width = 0.8 / len(runs)
    for ax, (method, quantity) in zip(axes[0], panels):
        t_m = table[(table["method"] == method) & (table["quantity"] == quantity)]
        settings = list(dict.fromkeys(t_m["setting"]))
        for k, run in enumerate(runs):
            t = t_m[t_m["run"] == run].set_index("setting").reindex(settings)
            x = np.arange(len(settings)) + (k - (len(runs) - 1) / 2) * width
            ax.bar(x, t["outside_mean"], width,
                   yerr=interval_err(t, "outside_mean", "outside_ci_low", "outside_ci_high"),
                   capsize=3, label=run, edgecolor="black", linewidth=0.6)
        ax.set_xticks(np.arange(len(settings)), [_channels(s).replace("_", " ") for s in settings])
        ax.set_ylabel(f"{QUANTITY_LABEL[quantity]}\nbeyond r = {radius} px", fontsize=8.5)
        ax.set_title(METHOD_LABEL[method] + (": what moves the prediction"
                                             if quantity == "spread_share" else ""))
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    save(fig, paths)


def plot(table: pd.DataFrame, paths) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    labels = list(dict.fromkeys(table["label"]))
    runs = list(dict.fromkeys(table["run"]))
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2, 3.8))
    for k, run in enumerate(runs):
        t = table[table["run"] == run].set_index("label").reindex(labels)
        x = np.arange(len(labels)) + (k - (len(runs) - 1) / 2) * width
        ax.bar(x, t["scatter_mean"], width, yerr=interval_err(t), capsize=3,
               label=run, edgecolor="black", linewidth=0.6)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel("test scatter [dex]")
    ax.set_title("Known answer: synthetic survey with and without an age-dependent environment")
    ax.legend(frameon=False)
    fig.tight_layout()
    save(fig, paths)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="clusterage known-answer",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results folders of the runs")
    ap.add_argument("--labels", nargs="+", help="one label per run")
    ap.add_argument("--out", required=True, help="output path without suffix")
    ap.add_argument("--configfile", nargs="*", default=[], metavar="FILE",
                    help="config files whose 'uncertainty' draws the intervals (default: the "
                    "schema's defaults, as the workflow)")
    args = ap.parse_args(argv)
    from clusterage.configfile import load_config

    boot = Bootstrap.from_config(load_config(Path("."), args.configfile))
    labels = args.labels or [Path(r).name for r in args.results]
    table = compare(args.results, labels)
    with atomic_path(f"{args.out}.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    plot(table, [f"{args.out}.png", f"{args.out}.pdf"])
    print(table.to_string(index=False))
    shares = compare_attribution(args.results, labels, boot)
    if len(shares):
        with atomic_path(f"{args.out}_attribution.csv") as tmp:
            shares.to_csv(tmp, index=False, float_format="%.4f")
        plot_attribution(shares, [f"{args.out}_attribution.png", f"{args.out}_attribution.pdf"])
        print(shares.to_string(index=False))
    if len(args.results) == 2:
        verdicts = checks(*args.results, boot)
        if len(verdicts):
            with atomic_path(f"{args.out}_checks.csv") as tmp:
                verdicts.to_csv(tmp, index=False, float_format="%.4f")
            print(verdicts.to_string(index=False))


if __name__ == "__main__":
    main()
