"""The white-light view of the packed dataset: the mean of the five filters, one channel."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.survey.views import write_white_light  # noqa: E402

write_white_light(snakemake.input[0], snakemake.output[0])
