"""Predicted vs true, residuals and loss curves of the unmasked models (paper Fig. 2)."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.figures import plot_predictions  # noqa: E402

inp, runs, seeds = snakemake.input, snakemake.params.runs, list(snakemake.params.seeds)
drawn = [{**run, "predictions": pd.read_csv(p), "history": pd.read_csv(h)}
         for run, p, h in zip(runs, inp.predictions, inp.history)]
# every seed of each column's setting, in the order of fig2_inputs(): column by column
every = [{"seed": seed, "predictions": pd.read_csv(p), "history": pd.read_csv(h)}
         for seed, p, h in zip(seeds * len(runs), inp.seed_predictions, inp.seed_history)]
seed_runs = [every[k * len(seeds):(k + 1) * len(seeds)] for k in range(len(runs))]
plot_predictions(drawn, [snakemake.output.png, snakemake.output.pdf],
                 dict(snakemake.params.sample_ranges), seed_runs=seed_runs)
