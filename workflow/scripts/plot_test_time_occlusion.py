"""Test-time occlusion of the unmasked models beside the retrained occlusion sweep (Fig. 3 style)."""
import pandas as pd

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.attribution_report import plot_occlusion  # noqa: E402

plot_occlusion(pd.read_csv(snakemake.input.occlusion), pd.read_csv(snakemake.input.scatter),
               [snakemake.output.png, snakemake.output.pdf], dict(snakemake.params.sample_ranges))
