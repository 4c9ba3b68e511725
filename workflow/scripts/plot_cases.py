"""Bars of the cases' test scatter with the null predictor (paper Fig. 4 / Fig. 5 style)."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.figures import plot_cases  # noqa: E402

plot_cases(pd.read_csv(snakemake.input[0]), [snakemake.output.png, snakemake.output.pdf])
