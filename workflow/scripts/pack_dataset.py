"""Concatenate the per-galaxy cutouts into the one HDF5 dataset every training job reads."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.survey.ingest import pack  # noqa: E402

pack(snakemake.input.cutouts, snakemake.input.reports, snakemake.output.dataset, snakemake.output.report,
     config=snakemake.config)
