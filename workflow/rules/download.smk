# Downloads of the real PHANGS-HST files from MAST (data.source: phangs). Outputs mirror MAST's
# hlsps/ tree under data.download.dir (DOWNLOAD_DIR), so the ingest reads downloads and a user's
# own copy (data.local_dir) alike. Both run where Snakemake is started: compute nodes may lack
# internet. The paths and URL templates come from data.layout (clusterage.survey.mast), via common.smk.


localrules:
    download_image,
    download_catalogs,


rule download_image:
    output:
        f"{DOWNLOAD_DIR}/{{image}}",
    wildcard_constraints:
        image=download_image_regex(),
    conda:
        "../../envs/clusterage.yaml"
    log:
        "logs/download/{image}.log",
    script:
        "../scripts/download_image.py"


rule download_catalogs:
    output:
        download_catalog_outputs(),
    wildcard_constraints:
        target="[^/]+",
        camera="[^/]+",
    conda:
        "../../envs/clusterage.yaml"
    log:
        download_catalog_log(),
    script:
        "../scripts/download_catalogs.py"
