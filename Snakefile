# clusterage: where in a Hubble image is a star cluster's age written?
# Reproduces Viaña et al. (PHANGS-HST + CNNs). The chain, one rule file per stage:
#   data (synthetic.smk | download.smk) -> ingest.smk (cutouts, HDF5) -> train.smk (one Slurm GPU
#   job per setting and seed, null predictor) -> report.smk (scatter table, figures)
#   -> disputes.smk (clusters whose catalog age the CNN disputes: ensemble, catalog, gallery);
#   attribution.smk: where the trained models read the age (maps, profiles, test-time occlusion).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/disputes.smk"
include: "workflow/rules/attribution.smk"


rule all:
    input:
        final_outputs(),
