# One training job per (setting, seed): the rule a Slurm profile sends to GPU nodes. Cluster
# resources (partition, account, GPUs, runtime) are set in profiles/slurm/, not here. The run
# layout (TRAIN_RUN and the paths beside it) comes from clusterage.grid.


localrules:
    null_predictor,
    keep_model,


rule null_predictor:
    input:
        DATASET,
    output:
        scores=f"{RESULTS}/null/{{sample}}.json",
        overlap=f"{RESULTS}/null/{{sample}}_overlap.csv",
    params:
        sample_range=sample_range,
        split=config["split"],
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/null/{{sample}}.log",
    script:
        "../scripts/null_predictor.py"


rule train:
    input:
        train_dataset,
        start=warm_start_weights,
    output:
        metrics=f"{TRAIN_RUN}/metrics.json",
        predictions=f"{TRAIN_RUN}/predictions.csv",
        history=f"{TRAIN_RUN}/history.csv",
        metadata=f"{TRAIN_RUN}/metadata.json",
        # Deleted as soon as no job needs it: rule keep_model keeps the weights that rule all
        # (keep_models) or a later step asks for.
        weights=temp(f"{TRAIN_RUN}/trained.weights.h5"),
    params:
        job=train_params,
        split=config["split"],
        checkpoint=TRAIN_CHECKPOINT,
    conda:
        f"../../{TRAIN_CONDA_ENV}"
    log:
        TRAIN_LOG,
    benchmark:
        TRAIN_BENCHMARK
    threads: 1
    priority: train_priority
    script:
        "../scripts/train.py"


rule keep_model:
    input:
        f"{TRAIN_RUN}/trained.weights.h5",
    output:
        f"{TRAIN_RUN}/model.weights.h5",
    conda:
        "../../envs/clusterage.yaml"
    log:
        KEEP_MODEL_LOG,
    # A hard link, done at once: an attribution job waiting for the kept weights starts sooner.
    priority: 1
    script:
        "../scripts/keep_model.py"
