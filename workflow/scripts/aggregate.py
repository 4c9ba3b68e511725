"""Gather every run's metrics into the tidy scatter table."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.aggregate import write_tables  # noqa: E402

write_tables(dict(snakemake.params.config), snakemake.output.table, snakemake.output.per_seed)
