"""Tables and figures of whatever runs exist now, for a sweep that is still going.

No training is an input of this rule: it scans the run folders, so it can run beside the sweep
(`snakemake --cores 1 -f partial_report`) and writes into <results>/partial/.
"""
import logging
from pathlib import Path

import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.aggregate import write_tables  # noqa: E402
from clusterage.analysis.disputes import current  # noqa: E402
from clusterage.analysis.uncertainty import Bootstrap  # noqa: E402
from clusterage.plan import Plan  # noqa: E402
from clusterage.report.figure_registry import figure_files, read, read_runs  # noqa: E402

log = logging.getLogger("partial_report")
config = dict(snakemake.params.config)
out = Path(snakemake.output[0])
tables, figs = out / "tables", out / "figures"
tables.mkdir(parents=True, exist_ok=True)
figs.mkdir(parents=True, exist_ok=True)

write_tables(Plan.of(config), Bootstrap.from_config(config), tables / "scatter.csv",
             tables / "scatter_per_seed.csv", missing_path=tables / "missing_runs.csv",
             groups_path=tables / "scatter_by_group.csv",
             differences_path=tables / "differences.csv")
files = {"scatter": tables / "scatter.csv", "groups": tables / "scatter_by_group.csv"}
if Path(snakemake.params.dataset).is_file():
    files["clusters"] = snakemake.params.dataset
data = read(files, sample_ranges=config["samples"], subsamples=config["subsamples"])
data["runs"] = read_runs(snakemake.params.runs, finished_only=True)
data["disputes"] = [d for d in (current(**spec) for spec in snakemake.params.disputes) if d]
# Attributions of the runs explained so far (whatever attribution/<setting>/seed<k>/ holds).
explained = [d for d in sorted(Path(config["results"]).glob("attribution/*/*/*/*/seed*/"))
             if all((d / f).is_file() for f in ("maps.h5", "profiles.csv", "occlusion.csv"))]
if explained:
    from clusterage.report.attribution_report import write_tables as write_attribution_tables
    from clusterage.report.figure_registry import read_attribution

    write_attribution_tables([d / "profiles.csv" for d in explained],
                             [d / "occlusion.csv" for d in explained],
                             [d / "maps.h5" for d in explained],
                             tables / "attribution_profiles.csv", tables / "test_time_occlusion.csv",
                             Bootstrap.from_config(config))
    data["attribution"] = read_attribution([d / "maps.h5" for d in explained],
                                           tables / "attribution_profiles.csv",
                                           tables / "test_time_occlusion.csv")
for name, figure, chart in figure_files(config["bar_charts"]):
    if figure.needs not in data:
        log.info("no %s yet: %s left out", figure.needs, name)
        continue
    figure.draw({**data, "chart": chart}, [figs / f"{name}.png", figs / f"{name}.pdf"])
missing = pd.read_csv(tables / "missing_runs.csv")
log.info("partial report in %s; %d runs still missing (tables/missing_runs.csv)", out, len(missing))
