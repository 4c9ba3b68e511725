"""Relative error against inner-mask diameter for the near and far galaxies (paper Fig. 7)."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.figures import plot_group_sweeps  # noqa: E402

plot_group_sweeps(pd.read_csv(snakemake.input[0]), [snakemake.output.png, snakemake.output.pdf],
                  "inner", dict(snakemake.params.sample_ranges))
