# Helpers for the rules: config validation, paths and the experiment plan. All logic lives in
# the clusterage package; this file only connects it to Snakemake.
import re
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # run from a clone without installing

from clusterage import grid as _grid
from clusterage import plan as _plan
from clusterage.attribution import select_settings as _attribution_settings
from clusterage.figure_registry import CHART, FIGURES, figure_files
from clusterage.mast import GalaxyFiles, template_regex


def _case_of_error(config, message):
    """A schema error inside a case names the case (not just its index in the list)."""
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

try:
    PLAN = _plan.build(config)
    SEEDS = _plan.seeds(config)
except _plan.ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None

try:
    ATTRIBUTION_SETTINGS = _attribution_settings(config["attribution"]["settings"], PLAN)
except ValueError as exc:
    raise WorkflowError(f"config error: {exc}") from None
ATTRIBUTION_OPTIONS = {k: v for k, v in config["attribution"].items() if k != "settings"}

RESULTS = config["results"]
GALAXIES = config["data"]["galaxies"]
SOURCE = config["data"]["source"]
DATASET = f"{RESULTS}/dataset/cutouts.h5"
# The simulated survey lives with the results it feeds: two runs with different synthetic
# settings (e.g. env_strength 0 and 1) never share or overwrite each other's mosaics.
SURVEY = f"{RESULTS}/survey"
# Downloads from MAST land here, in MAST's hlsps/ layout.
DOWNLOAD_DIR = config["data"]["download"]["dir"]
SAMPLES = sorted({job.setting.sample for job in PLAN.values()})
SAMPLE_RANGES = {name: dict(r or {}) for name, r in config["samples"].items()}
BAR_CHARTS = {chart["name"]: chart for chart in config["bar_charts"]}

# One training run, as Snakemake patterns: the setting's parts and the seed are wildcards.
TRAIN_RUN = _grid.run_dir(RESULTS, *_grid.RUN_WILDCARDS)
TRAIN_CHECKPOINT = _grid.checkpoint_dir(RESULTS, *_grid.RUN_WILDCARDS)
TRAIN_LOG = _grid.train_log(RESULTS, *_grid.RUN_WILDCARDS)
TRAIN_BENCHMARK = _grid.train_benchmark(RESULTS, *_grid.RUN_WILDCARDS)
# The attributions of one explained run, the same way.
EXPLAIN_DIR = _grid.attribution_dir(RESULTS, *_grid.RUN_WILDCARDS)
EXPLAIN_LOG = _grid.attribution_log(RESULTS, *_grid.RUN_WILDCARDS)
EXPLAIN_BENCHMARK = _grid.attribution_benchmark(RESULTS, *_grid.RUN_WILDCARDS)

wildcard_constraints:
    galaxy="|".join(GALAXIES),
    **_grid.wildcard_constraints(),


def data_dir():
    """Local copy of the MAST hlsps/ tree that ingest reads."""
    if config["data"]["local_dir"]:
        return config["data"]["local_dir"]
    return SURVEY if SOURCE == "synthetic" else DOWNLOAD_DIR


def galaxy_files(galaxy):
    overrides = config["data"]["galaxy_files"].get(galaxy)
    if SOURCE == "synthetic":
        overrides = None  # the simulated survey is always WFC3/UVIS with the default filters
    return GalaxyFiles.from_config(galaxy, overrides, config["data"]["layout"])


def galaxy_files_of(wildcards):
    return galaxy_files(wildcards.galaxy)


def _galaxy_relpaths(files):
    """The five mosaics and the catalog tables of one galaxy, relative to the data folder."""
    return files.image_relpaths() + [p for pair in files.catalog_relpaths() for p in pair]


def galaxy_inputs(wildcards):
    return [f"{data_dir()}/{r}" for r in _galaxy_relpaths(galaxy_files(wildcards.galaxy))]


def synthetic_outputs():
    """Output patterns of rule synthetic_galaxy ({galaxy} left as a wildcard)."""
    files = GalaxyFiles.from_config("{galaxy}", None, config["data"]["layout"])
    return [f"{SURVEY}/{r}" for r in _galaxy_relpaths(files)]


# Downloads (data.source: phangs): the rules' patterns follow the configured MAST layout.
def download_image_regex():
    """Constraint of rule download_image's {image} wildcard: the configured image template."""
    return template_regex(GalaxyFiles.from_config("x", None, config["data"]["layout"]).layout["image"])


def download_catalog_outputs():
    """The obs and sed table of every catalog kind, {target} and {camera} left as wildcards."""
    files = GalaxyFiles.from_config("{target}", {"catalog_camera": "{camera}"},
                                    config["data"]["layout"])
    return [f"{DOWNLOAD_DIR}/{r}" for pair in files.catalog_relpaths() for r in pair]


def download_catalog_log():
    """Rule download_catalogs' log, with the same wildcards as its outputs (Snakemake's rule)."""
    names = dict.fromkeys(re.findall(r"\{(\w+)\}", download_catalog_outputs()[0]))
    return "logs/download/catalogs_" + "_".join(f"{{{n}}}" for n in names) + ".log"


def train_dir(setting_name, seed):
    return _grid.run_dir(RESULTS, setting_name, seed)


def train_params(wildcards):
    name = _grid.setting_name(wildcards.sample, wildcards.channels, wildcards.occlusion,
                              wildcards.labels)
    if name not in PLAN:
        raise WorkflowError(f"no case of the config trains the setting {name}")
    return _plan.job_params(PLAN[name])


def trained_model(run):
    """The file of a finished run that holds its trained model (read by attribution.load_model)."""
    return f"{run}/model.keras"


def trained_model_of(wildcards):
    return trained_model(train_dir(_grid.setting_name(
        wildcards.sample, wildcards.channels, wildcards.occlusion, wildcards.labels), wildcards.seed))


def attribution_files(name):
    """One file per explained (setting, seed): maps.h5, profiles.csv or occlusion.csv."""
    return [f"{_grid.attribution_dir(RESULTS, s, seed)}/{name}" for s in ATTRIBUTION_SETTINGS
            for seed in SEEDS]


def sample_range(wildcards):
    return dict(config["samples"][wildcards.sample])


def all_runs(filename):
    """``filename`` of every (setting, seed) run of the plan."""
    return [f"{train_dir(name, seed)}/{filename}" for name in PLAN for seed in SEEDS]


def null_files():
    return expand(f"{RESULTS}/null/{{sample}}.json", sample=SAMPLES)


def final_outputs():
    return [*report_outputs(), *survey_figures()]


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


# Figures and report: every figure of clusterage.figure_registry gets one plot rule.
TABLES = {"scatter": f"{RESULTS}/tables/scatter.csv",
          "per_seed": f"{RESULTS}/tables/scatter_per_seed.csv",
          "groups": f"{RESULTS}/tables/scatter_by_group.csv",
          "missing": f"{RESULTS}/tables/missing_runs.csv",
          "attribution_profiles": f"{RESULTS}/tables/attribution_profiles.csv",
          "test_time_occlusion": f"{RESULTS}/tables/test_time_occlusion.csv"}


def fig2_runs():
    """Paper Fig. 2's models: per sample the unmasked five-filter model (else the unmasked
    white-light one), first seed; samples without an unmasked model are left out."""
    runs = []
    for sample in sorted(SAMPLES, key=lambda s: (s != "full", s)):
        for channels in _grid.CHANNELS:
            name = _grid.Setting(channels, sample).name
            if name in PLAN:
                runs.append({"sample": sample, "setting": name, "seed": SEEDS[0],
                             "dir": train_dir(name, SEEDS[0])})
                break
    return runs


def bar_chart_of(wildcards):
    return BAR_CHARTS[wildcards.chart]


def figure_inputs(figure):
    """What a figure is drawn from, as the plot rule's named inputs."""
    if figure.needs == "runs":
        return {"predictions": [f"{r['dir']}/predictions.csv" for r in fig2_runs()],
                "history": [f"{r['dir']}/history.csv" for r in fig2_runs()]}
    if figure.needs == "clusters":
        return {"clusters": DATASET}
    if figure.needs == "attribution":
        return {"maps": attribution_files("maps.h5"), "scatter": TABLES["scatter"],
                **{k: TABLES[k] for k in ("attribution_profiles", "test_time_occlusion")}}
    return {figure.needs: TABLES[figure.needs]}


def figure_params(figure):
    extra = {"runs": {"runs": fig2_runs()}, "clusters": {"subsamples": config["subsamples"]}}
    params = {"figure": figure.rule, "sample_ranges": SAMPLE_RANGES, **extra.get(figure.needs, {})}
    if figure.name == CHART:
        params["chart"] = bar_chart_of
    return params


def figure_constraints(figure):
    return {"chart": "|".join(BAR_CHARTS) or "^$"} if figure.name == CHART else {}


def figure_outputs(figure):
    """PNG for the report (with caption), PDF beside it for the paper."""
    return {"png": report(f"{RESULTS}/figures/{figure.name}.png",
                          caption=f"../report/{figure.caption}.rst", category=figure.category),
            "pdf": f"{RESULTS}/figures/{figure.name}.pdf"}


def figure_log(figure):
    if figure.name == CHART:
        return f"{RESULTS}/logs/{figure.rule}/{figure.name}.log"
    return f"{RESULTS}/logs/{figure.rule}.log"


def report_outputs():
    """Every table and figure (PNG and PDF) the report shows."""
    figures = [f"{RESULTS}/figures/{name}.{ext}" for name, _, _ in figure_files(config["bar_charts"])
               for ext in ("png", "pdf")]
    return list(TABLES.values()) + figures
