"""Score the null predictor (train-set mean log age) on one sample's split."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.ingest import null_predictor_for_sample  # noqa: E402

null_predictor_for_sample(snakemake.input[0], snakemake.output[0], snakemake.params.sample_range,
                          snakemake.params.split["seed"], snakemake.params.split["fractions"])
