"""Write the run's summary (test scatter of every case, where the figures are); printed at the end."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.report.summary import write  # noqa: E402

write(snakemake.input.table, snakemake.input.differences, snakemake.output.table, snakemake.output.text,
      figures=snakemake.input.figures, report=snakemake.params.report)
