"""Combine the seeds' test predictions of one setting into its ensemble table."""
from pathlib import Path

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.disputes import write_ensemble  # noqa: E402

runs = [Path(p).parent for p in snakemake.input]
write_ensemble(runs, snakemake.params.setting, snakemake.output.table, snakemake.output.summary)
