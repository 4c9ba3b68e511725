"""Simulate one galaxy of the synthetic survey in the real MAST layout."""
from pathlib import Path

from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.survey.mast import GalaxyFiles  # noqa: E402
from clusterage.synthetic import write_galaxy  # noqa: E402

galaxy = snakemake.wildcards.galaxy
files = GalaxyFiles.from_config(galaxy, None, snakemake.params.layout)
survey = Path(snakemake.output.truth).parent.parent  # <survey>/synthetic-truth/<galaxy>.csv
write_galaxy(survey, galaxy, dict(snakemake.params.synthetic), files)
