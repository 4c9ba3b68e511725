# One training job per (setting, seed): the rule a Slurm profile sends to GPU nodes. Cluster
# resources (partition, account, GPUs, runtime) are set in profiles/slurm/, not here. The run
# layout (TRAIN_RUN and the paths beside it) comes from clusterage.grid.


localrules:
    null_predictor,


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
        DATASET,
    output:
        metrics=f"{TRAIN_RUN}/metrics.json",
        predictions=f"{TRAIN_RUN}/predictions.csv",
        history=f"{TRAIN_RUN}/history.csv",
        metadata=f"{TRAIN_RUN}/metadata.json",
        model=f"{TRAIN_RUN}/model.keras",
    params:
        job=train_params,
        split=config["split"],
        checkpoint=TRAIN_CHECKPOINT,
    conda:
        "../../envs/clusterage.yaml"
    log:
        TRAIN_LOG,
    benchmark:
        TRAIN_BENCHMARK
    threads: 1
    script:
        "../scripts/train.py"
