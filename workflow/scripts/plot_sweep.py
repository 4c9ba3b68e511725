"""Scatter against mask diameter per split with the null line and predictive power (Figs. 3, 8)."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.figures import plot_sweep  # noqa: E402

plot_sweep(pd.read_csv(snakemake.input[0]), snakemake.params.mask,
           [snakemake.output.png, snakemake.output.pdf], dict(snakemake.params.sample_ranges))
