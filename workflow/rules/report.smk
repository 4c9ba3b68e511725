# Runs -> tidy tables -> the paper's figures -> one HTML report (snakemake --report report.html).
# Every figure is drawn from what exists; `snakemake -f partial_report` draws them while a sweep
# is still running, without waiting for (or starting) any training.


report: "../report/workflow.rst"


localrules:
    aggregate,
    summary,
    plot_scatter_vs_diameter,
    plot_cases,
    plot_predictions,
    plot_inner_sweep,
    plot_outer_sweep,
    plot_bar_chart,
    plot_age_histograms,
    plot_distance_subsamples,
    partial_report,


rule aggregate:
    input:
        metrics=all_metrics(),
        predictions=all_predictions(),
        nulls=null_files(),
    output:
        table=report(f"{RESULTS}/tables/scatter.csv", caption="../report/scatter_table.rst",
                     category="Tables"),
        per_seed=report(f"{RESULTS}/tables/scatter_per_seed.csv",
                        caption="../report/scatter_per_seed.rst", category="Tables"),
        missing=report(f"{RESULTS}/tables/missing_runs.csv", caption="../report/missing_runs.rst",
                       category="Tables"),
        groups=report(f"{RESULTS}/tables/scatter_by_group.csv",
                      caption="../report/scatter_by_group.rst", category="Tables"),
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
        table=f"{RESULTS}/tables/scatter.csv",
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


rule plot_scatter_vs_diameter:
    input:
        f"{RESULTS}/tables/scatter.csv",
    output:
        **figure_outputs("scatter_vs_diameter", "scatter_vs_diameter", "Overview"),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_scatter_vs_diameter.log",
    script:
        "../scripts/plot_scatter_vs_diameter.py"


rule plot_cases:
    input:
        f"{RESULTS}/tables/scatter.csv",
    output:
        **figure_outputs("cases", "cases", "Overview"),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_cases.log",
    script:
        "../scripts/plot_cases.py"


rule plot_predictions:
    input:
        **fig2_inputs(),
    output:
        **figure_outputs("fig2_predictions", "fig2"),
    params:
        runs=fig2_runs(),
        seeds=SEEDS,
        sample_ranges=SAMPLE_RANGES,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_predictions.log",
    script:
        "../scripts/plot_predictions.py"


rule plot_inner_sweep:
    input:
        f"{RESULTS}/tables/scatter.csv",
    output:
        **figure_outputs("fig3_inner_masks", "fig3"),
    params:
        mask="inner",
        sample_ranges=SAMPLE_RANGES,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_inner_sweep.log",
    script:
        "../scripts/plot_sweep.py"


rule plot_outer_sweep:
    input:
        f"{RESULTS}/tables/scatter.csv",
    output:
        **figure_outputs("fig8_outer_masks", "fig8"),
    params:
        mask="outer",
        sample_ranges=SAMPLE_RANGES,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_outer_sweep.log",
    script:
        "../scripts/plot_sweep.py"


rule plot_bar_chart:
    input:
        f"{RESULTS}/tables/scatter.csv",
    output:
        png=report(f"{RESULTS}/figures/{{chart}}.png", caption="../report/bar_chart.rst",
                   category="Figures"),
        pdf=f"{RESULTS}/figures/{{chart}}.pdf",
    wildcard_constraints:
        chart="|".join(BAR_CHARTS) or "^$",
    params:
        chart=bar_chart_of,
        sample_ranges=SAMPLE_RANGES,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_bar_chart/{{chart}}.log",
    script:
        "../scripts/plot_bar_chart.py"


rule plot_age_histograms:
    input:
        DATASET,
    output:
        **figure_outputs("fig6_age_distributions", "fig6"),
    params:
        groups=config["subsamples"],
        sample_ranges=SAMPLE_RANGES,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_age_histograms.log",
    script:
        "../scripts/plot_age_histograms.py"


rule plot_distance_subsamples:
    input:
        f"{RESULTS}/tables/scatter_by_group.csv",
    output:
        **figure_outputs("fig7_distance_subsamples", "fig7"),
    params:
        sample_ranges=SAMPLE_RANGES,
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_distance_subsamples.log",
    script:
        "../scripts/plot_distance_subsamples.py"


# No inputs: it scans the runs that exist, so it never waits for or starts a training.
# Run it with -f (force) to redraw: snakemake --cores 1 -f partial_report
rule partial_report:
    output:
        directory(f"{RESULTS}/partial"),
    params:
        config=config,
        dataset=DATASET,
        runs=fig2_runs(),
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/partial_report.log",
    script:
        "../scripts/partial_report.py"
