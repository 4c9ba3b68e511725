"""Rule download_catalogs: fetch a galaxy's DR4 catalog bundle and extract its tables."""

import sys

from clusterage.survey.download import download_catalogs_job

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (set by Snakemake)
download_catalogs_job(snakemake.config, snakemake.wildcards.target, list(snakemake.output),  # noqa: F821
                      snakemake.config["data"]["download"]["dir"])  # noqa: F821
