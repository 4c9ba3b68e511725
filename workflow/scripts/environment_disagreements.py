"""The environment's disagreement catalog: clusters whose surroundings dispute their SED age
while their own colours agree with it."""
from clusterage.logs import to_file

to_file(snakemake.log[0])

from clusterage.analysis.disputes import catalog_colours, catalog_root  # noqa: E402
from clusterage.analysis.environment_disputes import write_catalog  # noqa: E402

p, i = snakemake.params, snakemake.input
write_catalog(i.table, i.summary, i.cluster_table, i.cluster_summary, snakemake.output[0],
              threshold=p.threshold, agree=p.agree,
              colours=catalog_colours(p.files, catalog_root(p.files, i.catalogs)))
