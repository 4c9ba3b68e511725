"""The disagreement catalog of one setting: clusters whose SED age the CNN disputes."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.disputes import catalog_colours, catalog_root, write_catalog  # noqa: E402

p = snakemake.params
write_catalog(snakemake.input.table, snakemake.input.summary, snakemake.output[0],
              threshold=p.threshold, max_spread=p.max_spread,
              colours=catalog_colours(p.files, catalog_root(p.files, snakemake.input.catalogs)))
