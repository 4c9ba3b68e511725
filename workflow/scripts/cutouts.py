"""Cut out every usable cluster of one galaxy and write them with an ingest report."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.survey.ingest import ingest_galaxy  # noqa: E402

ingest_galaxy(
    snakemake.params.files,
    snakemake.params.data_dir,
    snakemake.output.cutouts,
    snakemake.output.report,
    classes=snakemake.params.catalog["classes"],
    age_column=snakemake.params.catalog["age_column"],
    size=snakemake.params.size,
    source=snakemake.params.source,
)
