"""Keep a finished run's trained weights (a hard link where the file system allows it)."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.train.keep import keep_weights  # noqa: E402

keep_weights(snakemake.input[0], snakemake.output[0])
