"""Gather every run's metrics into the tidy scatter tables; list the runs that are missing."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.aggregate import write_tables  # noqa: E402

out = snakemake.output
write_tables(dict(snakemake.params.config), out.table, out.per_seed, missing_path=out.missing,
             groups_path=out.groups, differences_path=out.differences)
