# Catalogs + mosaics -> 112 x 112 cutouts in five filters -> one HDF5 dataset.


localrules:
    cutouts,
    pack_dataset,
    white_light_view,


rule cutouts:
    input:
        galaxy_inputs,
    output:
        cutouts=temp(f"{RESULTS}/cutouts/{{galaxy}}.h5"),
        report=f"{RESULTS}/cutouts/{{galaxy}}_report.csv",
    params:
        data_dir=data_dir(),
        files=galaxy_files_of,
        catalog=config["catalog"],
        size=config["cutout_size"],
        source=SOURCE,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/cutouts/{{galaxy}}.log",
    script:
        "../scripts/cutouts.py"


rule pack_dataset:
    input:
        cutouts=expand(f"{RESULTS}/cutouts/{{galaxy}}.h5", galaxy=GALAXIES),
        reports=expand(f"{RESULTS}/cutouts/{{galaxy}}_report.csv", galaxy=GALAXIES),
    output:
        dataset=DATASET,
        report=f"{RESULTS}/dataset/ingest_report.csv",
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/pack_dataset.log",
    script:
        "../scripts/pack_dataset.py"


rule white_light_view:
    input:
        DATASET,
    output:
        WHITE_LIGHT,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/white_light_view.log",
    script:
        "../scripts/white_light_view.py"
