# The embedded default: a simulated PHANGS-like survey written in the real MAST layout.


localrules:
    synthetic_galaxy,


rule synthetic_galaxy:
    output:
        synthetic_outputs(),
        truth=f"{SURVEY}/synthetic-truth/{{galaxy}}.csv",
    params:
        synthetic=config["synthetic"],
        layout=config["data"]["layout"],
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/synthetic/{{galaxy}}.log",
    script:
        "../scripts/synthetic_galaxy.py"
