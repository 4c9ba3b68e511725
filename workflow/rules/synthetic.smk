# The embedded default: a simulated PHANGS-like survey written in the real MAST layout.


localrules:
    synthetic_galaxy,
    plot_survey,


rule synthetic_galaxy:
    output:
        synthetic_outputs(),
        truth=f"{SURVEY}/synthetic-truth/{{galaxy}}.csv",
        # The planted SED errors (the known answer of the disagreement catalog): no rule reads it.
        sed_errors=f"{SURVEY}/synthetic-truth/sed_errors/{{galaxy}}.csv",
    params:
        synthetic=config["synthetic"],
        layout=config["data"]["layout"],
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/synthetic/{{galaxy}}.log",
    script:
        "../scripts/synthetic_galaxy.py"


rule plot_survey:
    input:
        truth=f"{SURVEY}/synthetic-truth/{GALAXIES[0]}.csv",
        images=first_galaxy_images(),
        catalogs=survey_catalogs(),
    output:
        cutouts=report(figure_file("survey_example_cutouts"),
                       caption="../report/survey_example_cutouts.rst", category="Synthetic survey"),
        colours=report(figure_file("survey_colour_colour"),
                       caption="../report/survey_colour_colour.rst", category="Synthetic survey"),
    params:
        galaxy=GALAXIES[0],
    conda:
        "../../envs/clusterage.yaml"
    log:
        f"{RESULTS}/logs/plot_survey.log",
    script:
        "../scripts/plot_survey.py"
