# Runs -> one tidy scatter table -> figures.


localrules:
    aggregate,
    plot_scatter_vs_diameter,
    plot_cases,


rule aggregate:
    input:
        metrics=all_metrics(),
        nulls=null_files(),
    output:
        table=f"{RESULTS}/tables/scatter.csv",
        per_seed=f"{RESULTS}/tables/scatter_per_seed.csv",
    params:
        config=config,
    log:
        f"{RESULTS}/logs/aggregate.log",
    script:
        "../scripts/aggregate.py"


rule plot_scatter_vs_diameter:
    input:
        f"{RESULTS}/tables/scatter.csv",
    output:
        png=f"{RESULTS}/figures/scatter_vs_diameter.png",
        pdf=f"{RESULTS}/figures/scatter_vs_diameter.pdf",
    log:
        f"{RESULTS}/logs/plot_scatter_vs_diameter.log",
    script:
        "../scripts/plot_scatter_vs_diameter.py"


rule plot_cases:
    input:
        f"{RESULTS}/tables/scatter.csv",
    output:
        png=f"{RESULTS}/figures/cases.png",
        pdf=f"{RESULTS}/figures/cases.pdf",
    log:
        f"{RESULTS}/logs/plot_cases.log",
    script:
        "../scripts/plot_cases.py"
