"""Scatter against mask diameter (paper Fig. 3 / Fig. 8 style)."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.figures import plot_scatter_vs_diameter  # noqa: E402

plot_scatter_vs_diameter(pd.read_csv(snakemake.input[0]), [snakemake.output.png, snakemake.output.pdf])
