"""Radial profiles and test-time occlusion of every explained run, averaged over seeds."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.uncertainty import Bootstrap  # noqa: E402
from clusterage.report.attribution_report import write_tables  # noqa: E402

write_tables(snakemake.input.profiles, snakemake.input.occlusion, snakemake.input.maps,
             snakemake.output.profiles, snakemake.output.occlusion,
             Bootstrap.from_config(snakemake.config))
