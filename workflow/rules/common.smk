# Helpers for the rules: config validation, paths and the experiment plan. All logic lives in
# the clusterage package; this file only connects it to Snakemake.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # run from a clone without installing

from clusterage import plan as _plan
from clusterage.mast import GalaxyFiles


validate(config, workflow.source_path("../schemas/config.schema.yaml"))

try:
    PLAN = _plan.build(config)
    SEEDS = _plan.seeds(config)
except _plan.ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None

RESULTS = config["results"]
GALAXIES = config["data"]["galaxies"]
SOURCE = config["data"]["source"]
DATASET = f"{RESULTS}/dataset/cutouts.h5"
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
    return "resources/synthetic" if SOURCE == "synthetic" else "resources/mast"


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
    return [f"resources/synthetic/{r}" for r in rel]


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
    return expand(f"{RESULTS}/null/{{sample}}.json", sample=SAMPLES)


def final_outputs():
    return [
        f"{RESULTS}/tables/scatter.csv",
        f"{RESULTS}/figures/scatter_vs_diameter.png",
        f"{RESULTS}/figures/cases.png",
    ]
