"""Mean |Integrated Gradients| maps per explained setting, filter and age range."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.attribution_report import plot_maps  # noqa: E402

plot_maps(list(snakemake.input), [snakemake.output.png, snakemake.output.pdf])
