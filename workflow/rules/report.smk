# Runs -> tidy tables -> the paper's figures -> one HTML report (snakemake --report report.html).
# Every figure is drawn from what exists; `snakemake -f partial_report` draws them while a sweep
# is still running, without waiting for (or starting) any training.


report: "../report/workflow.rst"


localrules:
    aggregate,
    summary,
    partial_report,


rule aggregate:
    input:
        metrics=all_runs("metrics.json"),
        predictions=all_runs("predictions.csv"),
        nulls=null_files(),
    output:
        table=report(TABLES["scatter"], caption="../report/scatter_table.rst",
                     category="Tables"),
        per_seed=report(TABLES["per_seed"],
                        caption="../report/scatter_per_seed.rst", category="Tables"),
        missing=report(TABLES["missing"], caption="../report/missing_runs.rst",
                       category="Tables"),
        groups=report(TABLES["groups"],
                      caption="../report/scatter_by_group.rst", category="Tables"),
        differences=report(TABLES["differences"],
                           caption="../report/differences.rst", category="Tables"),
    params:
        config=config,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/aggregate.log",
    script:
        "../scripts/aggregate.py"


# The last job: the test table in a few lines and where everything is (printed by onsuccess).
rule summary:
    input:
        table=TABLES["scatter"],
        differences=TABLES["differences"],
        figures=summary_figures(),
    output:
        table=report(f"{RESULTS}/tables/summary.csv", caption="../report/summary.rst",
                     category="Summary"),
        text=f"{RESULTS}/summary.txt",
    params:
        report=REPORT,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/summary.log",
    script:
        "../scripts/summary.py"


# One plot rule per figure of clusterage.report.figure_registry (rule plot_<...>, log, caption and
# inputs from the registry); workflow/scripts/plot_figure.py draws it.
for _figure in FIGURES:

    rule:
        name:
            _figure.rule
        input:
            **figure_inputs(_figure),
        output:
            **figure_outputs(_figure),
        wildcard_constraints:
            **figure_constraints(_figure),
        params:
            **figure_params(_figure),
        localrule: True
        conda:
            "../../envs/clusterage.yaml"
        log:
            figure_log(_figure),
        script:
            "../scripts/plot_figure.py"


# No inputs: it scans the runs that exist, so it never waits for or starts a training.
# Run it with -f (force) to redraw: snakemake --cores 1 -f partial_report
rule partial_report:
    output:
        directory(f"{RESULTS}/partial"),
    params:
        config=config,
        dataset=DATASET,
        runs=fig2_runs(),
        disputes=dispute_runs(),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/partial_report.log",
    script:
        "../scripts/partial_report.py"
