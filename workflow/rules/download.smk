# Downloads of the real PHANGS-HST files from MAST (data.source: phangs). Outputs mirror MAST's
# hlsps/ tree under resources/mast, so the ingest reads downloads and a user's own copy
# (data.local_dir) alike. Both run where Snakemake is started: compute nodes may lack internet.
# Included by common.smk; the paths and URL templates come from data.layout (clusterage.mast).

import clusterage.download as _download


localrules:
    download_image,
    download_catalogs,


rule download_image:
    output:
        f"{_download.DOWNLOAD_DIR}/{{image}}",
    wildcard_constraints:
        image=_download.image_wildcard_regex(config),
    conda:
        "../../envs/clusterage.yaml"
    log:
        "logs/download/{image}.log",
    script:
        "../scripts/download_image.py"


rule download_catalogs:
    output:
        _download.catalog_outputs(config),
    wildcard_constraints:
        target="[^/]+",
        camera="[^/]+",
    conda:
        "../../envs/clusterage.yaml"
    log:
        _download.catalog_log(config),
    script:
        "../scripts/download_catalogs.py"
