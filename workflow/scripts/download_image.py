"""Rule download_image: fetch one PHANGS-HST mosaic (see clusterage.survey.download)."""

import sys

from clusterage.survey.download import download_image_job

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (set by Snakemake)
download_image_job(snakemake.config, snakemake.wildcards.image, snakemake.output[0])  # noqa: F821
