"""Predicted vs true, residuals and loss curves of the unmasked models (paper Fig. 2)."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.figures import plot_predictions  # noqa: E402

runs = [{**run, "predictions": pd.read_csv(p), "history": pd.read_csv(h)}
        for run, p, h in zip(snakemake.params.runs, snakemake.input.predictions, snakemake.input.history)]
plot_predictions(runs, [snakemake.output.png, snakemake.output.pdf], dict(snakemake.params.sample_ranges))
