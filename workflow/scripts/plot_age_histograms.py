"""Log-age distributions of the near and far galaxy groups (paper Fig. 6)."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.dataset import read_clusters  # noqa: E402
from clusterage.figures import plot_age_histograms  # noqa: E402

plot_age_histograms(read_clusters(snakemake.input[0]), {k: list(v) for k, v in snakemake.params.groups.items()},
                    [snakemake.output.png, snakemake.output.pdf], dict(snakemake.params.sample_ranges))
