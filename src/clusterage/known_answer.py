"""Compare scatter tables of runs on the synthetic survey with and without the planted signal.

    python -m clusterage.known_answer results/known_answer/env1 results/known_answer/env0 \
        --labels "env_strength 1" "env_strength 0" --out docs/figures/known_answer

writes ``<out>.csv`` (test scatter per case and run, the null beside it) and ``<out>.png/.pdf``;
where the runs explained models (attribution), also ``<out>_attribution.csv`` (per run, setting,
method and quantity, the share beyond r = 12 px of |attribution| and of the predictions' spread
across the test clusters: mean, population standard deviation (ddof 0) over seeds and the seeds'
values) and ``<out>_attribution.png/.pdf``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from .aggregate import seed_spread
from .atomic import atomic_path
from .attribution import INNER_RADIUS, METHOD_LABEL
from .attribution_report import PROFILE_PANELS, QUANTITY_LABEL, outside_share
from .figures import case_label, save


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
                "scatter_std", "n_seeds", "null_scatter", "relative_error_pct"]]


def compare_attribution(results_dirs, labels, radius: int = INNER_RADIUS) -> pd.DataFrame:
    """Per run, setting, method and quantity, the share beyond ``radius`` over seeds: of
    |attribution| (``abs_fraction``) and of the predictions' spread across the test clusters
    (``spread_share``, Integrated Gradients)."""
    rows = []
    for folder, label in zip(results_dirs, labels):
        files = sorted(Path(folder).glob("attribution/*/*/*/*/seed*/profiles.csv"))
        if not files:
            continue
        per_seed = outside_share(files, radius)
        for (setting, method, quantity), t in per_seed.groupby(["setting", "method", "quantity"]):
            t = t.sort_values("seed")
            rows.append({"run": label, "setting": setting, "method": method, "quantity": quantity,
                         "radius": radius, "outside_mean": t["outside"].mean(),
                         "outside_std": seed_spread(t["outside"]), "n_seeds": len(t),
                         "per_seed": " ".join(f"{v:.4f}" for v in t["outside"])})
    return pd.DataFrame(rows, columns=["run", "setting", "method", "quantity", "radius",
                                       "outside_mean", "outside_std", "n_seeds", "per_seed"])


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
            ax.bar(x, t["outside_mean"], width, yerr=t["outside_std"].fillna(0), capsize=3,
                   label=run, edgecolor="black", linewidth=0.6)
        ax.set_xticks(np.arange(len(settings)), [s.split("/")[1].replace("_", " ") for s in settings])
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
        ax.bar(x, t["scatter_mean"], width, yerr=t["scatter_std"].fillna(0), capsize=3,
               label=run, edgecolor="black", linewidth=0.6)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel("test scatter [dex]")
    ax.set_title("Known answer: synthetic survey with and without an age-dependent environment")
    ax.legend(frameon=False)
    fig.tight_layout()
    save(fig, paths)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results folders of the runs")
    ap.add_argument("--labels", nargs="+", help="one label per run")
    ap.add_argument("--out", required=True, help="output path without suffix")
    args = ap.parse_args(argv)
    labels = args.labels or [Path(r).name for r in args.results]
    table = compare(args.results, labels)
    with atomic_path(f"{args.out}.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    plot(table, [f"{args.out}.png", f"{args.out}.pdf"])
    print(table.to_string(index=False))
    shares = compare_attribution(args.results, labels)
    if len(shares):
        with atomic_path(f"{args.out}_attribution.csv") as tmp:
            shares.to_csv(tmp, index=False, float_format="%.4f")
        plot_attribution(shares, [f"{args.out}_attribution.png", f"{args.out}_attribution.pdf"])
        print(shares.to_string(index=False))


if __name__ == "__main__":
    main()
