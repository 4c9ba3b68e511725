"""Cumulative |attribution| within radius r, mean and seed-to-seed spread per setting."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.attribution_report import plot_profiles  # noqa: E402

plot_profiles(pd.read_csv(snakemake.input[0]), [snakemake.output.png, snakemake.output.pdf],
              size=int(snakemake.params.size))
