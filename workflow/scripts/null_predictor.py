"""Score the null predictor (train-set mean log age) on one sample's split."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.grid import SplitSpec  # noqa: E402
from clusterage.survey.ingest import null_predictor_for_sample  # noqa: E402

null_predictor_for_sample(snakemake.input[0], snakemake.output.scores, snakemake.params.sample_range,
                          SplitSpec.from_config(snakemake.params.split), snakemake.output.overlap)
