# Where each explained model reads the age: one job per (setting, seed) of config 'attribution'
# (a GPU job on Slurm, resources in profiles/slurm/), then the seed-averaged tables. The settings
# are chosen in common.smk (ATTRIBUTION_SETTINGS; a listed setting that the grid does not train
# stops Snakemake before any job); the figures are entries of clusterage.report.figure_registry.


localrules:
    attribution_tables,


rule attribution:
    input:
        dataset=DATASET,
        model=f"{EXPLAINED_RUN}/model.weights.h5",
        metadata=f"{EXPLAINED_RUN}/metadata.json",
    output:
        maps=f"{EXPLAIN_DIR}/maps.h5",
        profiles=f"{EXPLAIN_DIR}/profiles.csv",
        occlusion=f"{EXPLAIN_DIR}/occlusion.csv",
    params:
        options=ATTRIBUTION_OPTIONS,
    conda:
        # The trainings' environment: the same Keras backend on the same (GPU) nodes.
        f"../../{TRAIN_CONDA_ENV}"
    log:
        EXPLAIN_LOG,
    benchmark:
        EXPLAIN_BENCHMARK
    threads: 1
    priority: 1
    script:
        "../scripts/attribution.py"


rule attribution_tables:
    input:
        profiles=attribution_files("profiles.csv"),
        occlusion=attribution_files("occlusion.csv"),
        maps=attribution_files("maps.h5"),
    output:
        profiles=report(TABLES["attribution_profiles"],
                        caption="../report/attribution_profiles_table.rst", category="Attribution"),
        occlusion=report(TABLES["test_time_occlusion"],
                         caption="../report/test_time_occlusion_table.rst", category="Attribution"),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/attribution_tables.log",
    script:
        "../scripts/attribution_tables.py"
