"""Compare scatter tables of runs on the synthetic survey with and without the planted signal.

    python -m clusterage.known_answer results/known_answer/env1 results/known_answer/env0 \
        --labels "env_strength 1" "env_strength 0" --out docs/figures/known_answer

writes ``<out>.csv`` (test scatter per case and run, the null beside it) and ``<out>.png/.pdf``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from .atomic import atomic_path
from .figures import case_label, save


def compare(results_dirs, labels) -> pd.DataFrame:
    """Test-split rows of each run's scatter table, one column block per run."""
    rows = []
    for folder, label in zip(results_dirs, labels):
        table = pd.read_csv(Path(folder) / "tables" / "scatter.csv")
        test = table[table["split"] == "test"].copy()
        test["run"] = label
        test["label"] = test.apply(case_label, axis=1)
        rows.append(test)
    out = pd.concat(rows, ignore_index=True)
    return out[["run", "label", "case", "channels", "mask", "diameter", "scatter_mean",
                "scatter_std", "n_seeds", "null_scatter", "relative_error_pct"]]


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


if __name__ == "__main__":
    main()
