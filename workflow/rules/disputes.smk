# Clusters whose catalog (SED) age the CNN disputes: the seeds' out-of-sample predictions of a
# setting -> ensemble table -> disagreement catalog (CSV) -> gallery (PNG pages + HTML page).

SETTING_DIR = f"{DISPUTES}/{_grid.SETTING}"
SETTING_LOG = f"{RESULTS}/logs/disputes/{_grid.SETTING}"


localrules:
    ensemble,
    disagreements,
    dispute_gallery,


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
