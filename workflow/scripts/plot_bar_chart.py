"""Test scatter of the chart's cases beside the null predictor (paper Figs. 4 and 5)."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.figures import plot_bar_chart  # noqa: E402

plot_bar_chart(pd.read_csv(snakemake.input[0]), dict(snakemake.params.chart),
               [snakemake.output.png, snakemake.output.pdf], dict(snakemake.params.sample_ranges))
