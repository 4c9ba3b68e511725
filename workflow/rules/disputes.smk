# Clusters whose catalog (SED) age the CNN disputes: the seeds' out-of-sample predictions of a
# setting -> ensemble table -> disagreement catalog (CSV) -> gallery (PNG pages + HTML page).
# For an environment-only setting: its ensemble beside the cluster model's -> the environment's
# disagreement catalog -> its gallery.

SETTING_DIR = f"{DISPUTES}/{_grid.SETTING}"
SETTING_LOG = f"{RESULTS}/logs/disputes/{_grid.SETTING}"


localrules:
    ensemble,
    disagreements,
    dispute_gallery,
    environment_disagreements,
    environment_gallery,


rule ensemble:
    input:
        setting_predictions,
    output:
        table=f"{SETTING_DIR}/ensemble.csv",
        summary=f"{SETTING_DIR}/ensemble.json",
    params:
        setting=setting_of,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{SETTING_LOG}/ensemble.log",
    script:
        "../scripts/ensemble.py"


rule disagreements:
    input:
        table=f"{SETTING_DIR}/ensemble.csv",
        summary=f"{SETTING_DIR}/ensemble.json",
        catalogs=all_catalog_files(),
    output:
        report(f"{SETTING_DIR}/disagreements.csv", caption="../report/disagreements.rst",
               category="Disputed ages"),
    params:
        threshold=config["disputes"]["threshold"],
        max_spread=config["disputes"]["max_spread"],
        files=all_galaxy_files(),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{SETTING_LOG}/disagreements.log",
    script:
        "../scripts/disagreements.py"


rule dispute_gallery:
    input:
        catalog=f"{SETTING_DIR}/disagreements.csv",
        summary=f"{SETTING_DIR}/ensemble.json",
        dataset=DATASET,
        catalogs=all_catalog_files(),
    output:
        # Each page its own report item: a folder with an HTML index is allowed in zip reports only.
        report(directory(f"{SETTING_DIR}/gallery"), patterns=["{page}.png"],
               caption="../report/dispute_gallery.rst", category="Disputed ages"),
    params:
        threshold=config["disputes"]["threshold"],
        max_spread=config["disputes"]["max_spread"],
        max_clusters=config["disputes"]["gallery_max"],
        files=all_galaxy_files(),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{SETTING_LOG}/gallery.log",
    script:
        "../scripts/dispute_gallery.py"


rule environment_disagreements:
    input:
        table=f"{SETTING_DIR}/ensemble.csv",
        summary=f"{SETTING_DIR}/ensemble.json",
        cluster_table=f"{CLUSTER_ENSEMBLE}.csv",
        cluster_summary=f"{CLUSTER_ENSEMBLE}.json",
        catalogs=all_catalog_files(),
    output:
        report(f"{SETTING_DIR}/environment_disagreements.csv",
               caption="../report/environment_disagreements.rst", category="Disputed ages"),
    params:
        threshold=config["disputes"]["environment"]["threshold"],
        agree=config["disputes"]["environment"]["agree"],
        files=all_galaxy_files(),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{SETTING_LOG}/environment_disagreements.log",
    script:
        "../scripts/environment_disagreements.py"


rule environment_gallery:
    input:
        catalog=f"{SETTING_DIR}/environment_disagreements.csv",
        summary=f"{SETTING_DIR}/ensemble.json",
        cluster_summary=f"{CLUSTER_ENSEMBLE}.json",
        dataset=DATASET,
        catalogs=all_catalog_files(),
    output:
        report(directory(f"{SETTING_DIR}/environment_gallery"), patterns=["{page}.png"],
               caption="../report/environment_gallery.rst", category="Disputed ages"),
    params:
        threshold=config["disputes"]["environment"]["threshold"],
        agree=config["disputes"]["environment"]["agree"],
        max_clusters=config["disputes"]["gallery_max"],
        files=all_galaxy_files(),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{SETTING_LOG}/environment_gallery.log",
    script:
        "../scripts/environment_gallery.py"
