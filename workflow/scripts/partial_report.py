"""Tables and figures of whatever runs exist now, for a sweep that is still going.

No training is an input of this rule: it scans the run folders, so it can run beside the sweep
(`snakemake --cores 1 -f partial_report`) and writes into <results>/partial/.
"""
import logging
from pathlib import Path

import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage import figures  # noqa: E402
from clusterage.aggregate import write_tables  # noqa: E402
from clusterage.plan import run_dir, seeds  # noqa: E402

log = logging.getLogger("partial_report")
config = dict(snakemake.params.config)
ranges = {k: dict(v or {}) for k, v in config["samples"].items()}
out = Path(snakemake.output[0])
tables, figs = out / "tables", out / "figures"
tables.mkdir(parents=True, exist_ok=True)
figs.mkdir(parents=True, exist_ok=True)


def paths(name):
    return [figs / f"{name}.png", figs / f"{name}.pdf"]


table = write_tables(config, tables / "scatter.csv", tables / "scatter_per_seed.csv",
                     missing_path=tables / "missing_runs.csv", groups_path=tables / "scatter_by_group.csv")
groups = pd.read_csv(tables / "scatter_by_group.csv")
figures.plot_scatter_vs_diameter(table, paths("scatter_vs_diameter"))
figures.plot_cases(table, paths("cases"))
figures.plot_sweep(table, "inner", paths("fig3_inner_masks"), ranges)
figures.plot_sweep(table, "outer", paths("fig8_outer_masks"), ranges)
for chart in config["bar_charts"]:
    figures.plot_bar_chart(table, chart, paths(chart["name"]), ranges)
figures.plot_group_sweeps(groups, paths("fig7_distance_subsamples"), "inner", ranges)
runs = []
for run in snakemake.params.runs:
    p, h = Path(run["dir"]) / "predictions.csv", Path(run["dir"]) / "history.csv"
    if (Path(run["dir"]) / "metrics.json").is_file():
        runs.append({**run, "predictions": pd.read_csv(p), "history": pd.read_csv(h)})
seed_runs = []  # every finished seed of each drawn setting (their spread)
for run in runs:
    done = [(seed, Path(run_dir(config["results"], run["setting"], seed)))
            for seed in seeds(config)]
    seed_runs.append([{"seed": seed, "predictions": pd.read_csv(d / "predictions.csv"),
                       "history": pd.read_csv(d / "history.csv")}
                      for seed, d in done if (d / "metrics.json").is_file()])
figures.plot_predictions(runs, paths("fig2_predictions"), ranges, seed_runs=seed_runs)
if Path(snakemake.params.dataset).is_file():
    from clusterage.dataset import read_clusters

    figures.plot_age_histograms(read_clusters(snakemake.params.dataset),
                                {k: list(v) for k, v in config["subsamples"].items()},
                                paths("fig6_age_distributions"), ranges)
else:
    log.info("no dataset yet: Fig. 6 left out")
missing = pd.read_csv(tables / "missing_runs.csv")
log.info("partial report in %s; %d runs still missing (tables/missing_runs.csv)", out, len(missing))
