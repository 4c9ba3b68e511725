"""Rule download_image: fetch one PHANGS-HST mosaic (see clusterage.download)."""

import sys

from clusterage.download import download_image_job

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (set by Snakemake)
download_image_job(snakemake.config, snakemake.wildcards.image, snakemake.output[0])  # noqa: F821
