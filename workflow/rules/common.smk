# Helpers for the rules: config validation, paths and the experiment plan. All logic lives in
# the clusterage package; this file only connects it to Snakemake.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # run from a clone without installing

from clusterage import plan as _plan
from clusterage.mast import GalaxyFiles


# >>> issue 4: a schema error inside a case names the case (not just its index in the list)
def _case_of_error(config, message):
    import re

    m = re.search(r"instance\['cases'\]\[(\d+)\]", message)
    if m and isinstance(config.get("cases"), list) and int(m.group(1)) < len(config["cases"]):
        case = config["cases"][int(m.group(1))]
        name = case.get("name", f"#{m.group(1)}") if isinstance(case, dict) else f"#{m.group(1)}"
        return f"config error in case {name!r} (cases[{m.group(1)}]): "
    return ""


try:
    validate(config, workflow.source_path("../schemas/config.schema.yaml"))
except WorkflowError as exc:
    raise WorkflowError(f"{_case_of_error(config, str(exc))}{exc}") from None
# <<< issue 4

try:
    PLAN = _plan.build(config)
    SEEDS = _plan.seeds(config)
except _plan.ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None

RESULTS = config["results"]
GALAXIES = config["data"]["galaxies"]
SOURCE = config["data"]["source"]
DATASET = f"{RESULTS}/dataset/cutouts.h5"
REPORT = f"{RESULTS}/report.html"  # where ./run.sh writes the HTML report
# The simulated survey lives with the results it feeds: two runs with different synthetic
# settings (e.g. env_strength 0 and 1) never share or overwrite each other's mosaics.
SURVEY = f"{RESULTS}/survey"
SAMPLES = sorted({job.setting.sample for job in PLAN.values()})

wildcard_constraints:
    galaxy="|".join(GALAXIES),
    sample="[A-Za-z0-9_]+",
    channels="five_band|white_light",
    occlusion=r"none|inner\d+|outer\d+",
    labels="true|shuffled",
    seed=r"\d+",


def data_dir():
    """Local copy of the MAST hlsps/ tree that ingest reads."""
    if config["data"]["local_dir"]:
        return config["data"]["local_dir"]
    return SURVEY if SOURCE == "synthetic" else "resources/mast"


def galaxy_files(galaxy):
    overrides = config["data"]["galaxy_files"].get(galaxy)
    if SOURCE == "synthetic":
        overrides = None  # the simulated survey is always WFC3/UVIS with the default filters
    return GalaxyFiles.from_config(galaxy, overrides, config["data"]["layout"])


def galaxy_files_of(wildcards):
    return galaxy_files(wildcards.galaxy)


def galaxy_inputs(wildcards):
    """The five mosaics and the catalog tables of one galaxy."""
    files = galaxy_files(wildcards.galaxy)
    rel = files.image_relpaths() + [p for pair in files.catalog_relpaths() for p in pair]
    return [f"{data_dir()}/{r}" for r in rel]


def synthetic_outputs():
    """Output patterns of rule synthetic_galaxy ({galaxy} left as a wildcard)."""
    files = GalaxyFiles.from_config("{galaxy}", None, config["data"]["layout"])
    rel = files.image_relpaths() + [p for pair in files.catalog_relpaths() for p in pair]
    return [f"{SURVEY}/{r}" for r in rel]


def train_dir(setting_name, seed):
    return _plan.run_dir(RESULTS, setting_name, seed)


def train_params(wildcards):
    name = f"{wildcards.sample}/{wildcards.channels}/{wildcards.occlusion}/{wildcards.labels}"
    if name not in PLAN:
        raise WorkflowError(f"no case of the config trains the setting {name}")
    return _plan.job_params(PLAN[name])


def sample_range(wildcards):
    return dict(config["samples"][wildcards.sample])


def all_metrics():
    return [f"{train_dir(name, seed)}/metrics.json" for name in PLAN for seed in SEEDS]


def null_files():
    return expand(f"{RESULTS}/null/{{sample}}.json", sample=_plan.null_samples(config))


def final_outputs():
    return [
        f"{RESULTS}/tables/scatter.csv",
        f"{RESULTS}/figures/scatter_vs_diameter.png",
        f"{RESULTS}/figures/cases.png",
        *report_outputs(),  # issue 4: every figure and table of the paper (defined at the end)
        *survey_figures(),
        f"{RESULTS}/summary.txt",
    ]


def summary_figures():
    """The PNG of every figure, for the summary (which waits for them)."""
    return [f for f in report_outputs() + survey_figures() if f.endswith(".png")]


def survey_figures():
    """Figures that show the simulated survey itself (synthetic data only)."""
    if SOURCE != "synthetic" or config["data"]["local_dir"]:
        return []
    return [f"{RESULTS}/figures/survey_example_cutouts.png",
            f"{RESULTS}/figures/survey_colour_colour.png"]


def survey_catalogs():
    """The sed tables (ages and photometry) of every simulated galaxy."""
    return [f"{SURVEY}/{sed}" for g in GALAXIES for _, sed in galaxy_files(g).catalog_relpaths()]


def first_galaxy_images():
    return [f"{SURVEY}/{rel}" for rel in galaxy_files(GALAXIES[0]).image_relpaths()]


# >>> figures and report (issue 4): inputs of the figure rules, the report's file list.
SAMPLE_RANGES = {name: dict(r or {}) for name, r in config["samples"].items()}
BAR_CHARTS = {chart["name"]: chart for chart in config["bar_charts"]}


def all_predictions():
    return [f"{train_dir(name, seed)}/predictions.csv" for name in PLAN for seed in SEEDS]


def fig2_runs():
    """Paper Fig. 2's models: per sample the unmasked five-filter model (else the unmasked
    white-light one), first seed; samples without an unmasked model are left out."""
    runs = []
    for sample in sorted(SAMPLES, key=lambda s: (s != "full", s)):
        for channels in ("five_band", "white_light"):
            name = f"{sample}/{channels}/none/true"
            if name in PLAN:
                runs.append({"sample": sample, "setting": name, "seed": SEEDS[0],
                             "dir": train_dir(name, SEEDS[0])})
                break
    return runs


def fig2_inputs():
    """The drawn model of each Fig. 2 column, and every seed of its setting (the spread)."""
    runs = fig2_runs()
    every = [train_dir(r["setting"], seed) for r in runs for seed in SEEDS]
    return {"predictions": [f"{r['dir']}/predictions.csv" for r in runs],
            "history": [f"{r['dir']}/history.csv" for r in runs],
            "seed_predictions": [f"{d}/predictions.csv" for d in every],
            "seed_history": [f"{d}/history.csv" for d in every]}


def bar_chart_of(wildcards):
    return BAR_CHARTS[wildcards.chart]


def figure_names():
    return ["scatter_vs_diameter", "cases", "fig2_predictions", "fig3_inner_masks",
            *BAR_CHARTS, "fig6_age_distributions", "fig7_distance_subsamples", "fig8_outer_masks"]


def report_outputs():
    """Every table and figure (PNG and PDF) the report shows."""
    tables = [f"{RESULTS}/tables/{t}.csv" for t in ("scatter", "scatter_per_seed",
                                                     "scatter_by_group", "missing_runs")]
    figures = [f"{RESULTS}/figures/{n}.{ext}" for n in figure_names() for ext in ("png", "pdf")]
    return tables + figures
# <<< figures and report


def figure_outputs(name, caption, category="Figures"):
    """PNG for the report (with caption), PDF beside it for the paper."""
    return {"png": report(f"{RESULTS}/figures/{name}.png", caption=f"../report/{caption}.rst",
                          category=category),
            "pdf": f"{RESULTS}/figures/{name}.pdf"}


onsuccess:
    from clusterage.summary import show

    show(f"{RESULTS}/summary.txt")
