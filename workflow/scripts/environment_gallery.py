"""The gallery of the ages an environment-only setting disputes: PNG pages and an HTML page."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.disputes import catalog_colours, catalog_root  # noqa: E402
from clusterage.report.dispute_gallery import write_environment_gallery  # noqa: E402

p, i = snakemake.params, snakemake.input
write_environment_gallery(i.catalog, i.summary, i.cluster_summary, i.dataset, snakemake.output[0],
                          threshold=p.threshold, agree=p.agree, max_clusters=p.max_clusters,
                          background=catalog_colours(p.files, catalog_root(p.files, i.catalogs)))
