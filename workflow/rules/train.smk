# One training job per (setting, seed): the rule a Slurm profile sends to GPU nodes. Cluster
# resources (partition, account, GPUs, runtime) are set in profiles/slurm/, not here.

RUN = f"{RESULTS}/train/{{sample}}/{{channels}}/{{occlusion}}/{{labels}}/seed{{seed}}"


localrules:
    null_predictor,


rule null_predictor:
    input:
        DATASET,
    output:
        f"{RESULTS}/null/{{sample}}.json",
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
        metrics=f"{RUN}/metrics.json",
        predictions=f"{RUN}/predictions.csv",
        history=f"{RUN}/history.csv",
        metadata=f"{RUN}/metadata.json",
        model=f"{RUN}/model.keras",
    params:
        job=train_params,
        split=config["split"],
        checkpoint=f"{RESULTS}/checkpoints/{{sample}}/{{channels}}/{{occlusion}}/{{labels}}/seed{{seed}}",
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/train/{{sample}}/{{channels}}/{{occlusion}}/{{labels}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{sample}}/{{channels}}/{{occlusion}}/{{labels}}/seed{{seed}}.tsv"
    threads: 1
    script:
        "../scripts/train.py"
