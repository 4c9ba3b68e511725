"""Draw one figure of clusterage.report.figure_registry from its plot rule's inputs."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.report.figure_registry import BY_RULE, read  # noqa: E402

params = dict(snakemake.params.items())
data = read(dict(snakemake.input.items()), sample_ranges=params["sample_ranges"],
            runs=params.get("runs"), subsamples=params.get("subsamples"), chart=params.get("chart"),
            disputes=params.get("disputes"))
BY_RULE[params["figure"]].draw(data, [snakemake.output.png, snakemake.output.pdf])
