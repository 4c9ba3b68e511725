"""Gather every run's metrics into the tidy scatter tables; list the runs that are missing."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.aggregate import write_tables  # noqa: E402
from clusterage.analysis.uncertainty import Bootstrap  # noqa: E402
from clusterage.plan import Plan  # noqa: E402

config, out = dict(snakemake.params.config), snakemake.output
write_tables(Plan.of(config), Bootstrap.from_config(config), out.table, out.per_seed,
             missing_path=out.missing, groups_path=out.groups, differences_path=out.differences)
