"""The gallery of one setting's disputed ages: PNG pages and an HTML page for the report."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.disputes import catalog_colours, catalog_root  # noqa: E402
from clusterage.report.dispute_gallery import write_gallery  # noqa: E402

p, i = snakemake.params, snakemake.input
write_gallery(i.catalog, i.summary, i.dataset, snakemake.output[0], threshold=p.threshold,
              max_spread=p.max_spread, max_clusters=p.max_clusters,
              background=catalog_colours(p.files, catalog_root(p.files, snakemake.input.catalogs)))
