# Helpers for the rules: config validation, paths and the experiment plan. All logic lives in
# the clusterage package; this file only connects it to Snakemake.
import os
import re
import signal
import sys
import time
from pathlib import Path

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # run from a clone without installing

from clusterage import configfile as _configfile
from clusterage import grid as _grid
from clusterage import plan as _plan
from clusterage.analysis import gradients as _gradients
from clusterage.cluster import breaker as _breaker
from clusterage.cluster import slurm_arrays as _slurm_arrays
from clusterage.report.figure_registry import CHART, FIGURES, figure_files
from clusterage.survey.mast import GalaxyFiles, template_regex
from clusterage.train import device as _device
from clusterage.train import keep as _keep
from clusterage.train import runlock as _runlock
from clusterage.train.runlock import PLANNED_AT

if workflow.is_main_process:
    # When this Snakemake process began to plan; the jobs it starts or submits inherit it. A
    # training job planned while another job still trained the same run reuses that job's
    # outputs instead of training again (clusterage.train.runlock).
    os.environ[PLANNED_AT] = str(time.time())


def _case_of_error(config, message):
    """A schema error inside a case names the case (not just its index in the list)."""
    m = re.search(r"instance\['cases'\]\[(\d+)\]", message)
    if m and isinstance(config.get("cases"), list) and int(m.group(1)) < len(config["cases"]):
        case = config["cases"][int(m.group(1))]
        name = case.get("name", f"#{m.group(1)}") if isinstance(case, dict) else f"#{m.group(1)}"
        return f"config error in case {name!r} (cases[{m.group(1)}]): "
    return ""


def _profile_under_user_config():
    """Put a profile's ``config:`` under the user's --configfile and --config (Snakemake applies it
    after them, as if it were --config); the jobs this process starts get the same values."""
    block, _ = _configfile.command_line_profile(sys.argv)
    if not block:
        return
    user_files = [Path(f).absolute() for f in workflow.config_settings.configfiles]
    own_files = [f for f in workflow.configfiles if Path(f).absolute() not in user_files]
    command_line = (dict(workflow.config_settings.config)
                    if _configfile.command_line_gives_config(sys.argv) else {})
    layered = _configfile.relayered(own_files, block, user_files, command_line)
    config.clear()
    config.update(layered)
    # Jobs read the config files again and then --config, last: send them the result at every
    # key the profile or the command line sets.
    workflow.config_settings.config_args = _configfile.command_line_args(
        _configfile.at_paths_of(layered, block, command_line))


if workflow.is_main_process:
    _profile_under_user_config()

try:
    validate(config, workflow.source_path("../schemas/config.schema.yaml"))
except WorkflowError as exc:
    raise WorkflowError(f"{_case_of_error(config, str(exc))}{exc}") from None

try:
    GRID = _plan.Plan.of(config)  # what each step trains, explains, disputes and keeps
except _plan.ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None
PLAN = GRID.jobs
SEEDS = GRID.seeds
EXPLAINED_SEEDS = GRID.explained_seeds
ATTRIBUTION_SETTINGS = GRID.explained
# Attribution takes gradients on TensorFlow or JAX only: say so before training anything.
_no_gradients = _gradients.unsupported(config["keras_backend"] or _device.backend_name())
if ATTRIBUTION_SETTINGS and _no_gradients:
    raise WorkflowError(f"config error: attribution.settings explains {len(ATTRIBUTION_SETTINGS)} "
                        f"setting(s), but {_no_gradients}; or set attribution.settings: [] to "
                        f"train without explaining")
ATTRIBUTION_OPTIONS = {k: v for k, v in config["attribution"].items()
                       if k not in ("settings", "seeds")}

RESULTS = config["results"]
GALAXIES = config["data"]["galaxies"]
SOURCE = config["data"]["source"]
DATASET = f"{RESULTS}/dataset/cutouts.h5"
REPORT = f"{RESULTS}/report.html"  # where ./run.sh writes the HTML report
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
# The attributions of one explained run (a fixed-split model), the same way, and its run folder.
EXPLAIN_DIR = _grid.attribution_dir(RESULTS, *_grid.EXPLAIN_WILDCARDS)
EXPLAIN_LOG = _grid.attribution_log(RESULTS, *_grid.EXPLAIN_WILDCARDS)
EXPLAIN_BENCHMARK = _grid.attribution_benchmark(RESULTS, *_grid.EXPLAIN_WILDCARDS)
EXPLAINED_RUN = _grid.run_dir(RESULTS, *_grid.EXPLAIN_WILDCARDS)

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
    """The constraint of download_image's {image} wildcard (the configured image template)."""
    return template_regex(GalaxyFiles.from_config("x", None, config["data"]["layout"]).layout["image"])


def download_catalog_outputs():
    """The obs and sed table of every catalog kind, {target} and {camera} left as wildcards."""
    files = GalaxyFiles.from_config("{target}", {"catalog_camera": "{camera}"},
                                    config["data"]["layout"])
    return [f"{DOWNLOAD_DIR}/{r}" for pair in files.catalog_relpaths() for r in pair]


def download_catalog_log():
    """The log of download_catalogs, with the same wildcards as its outputs (Snakemake's rule)."""
    names = dict.fromkeys(re.findall(r"\{(\w+)\}", download_catalog_outputs()[0]))
    return "logs/download/catalogs_" + "_".join(f"{{{n}}}" for n in names) + ".log"


def train_dir(setting_name, seed, fold=""):
    return _grid.run_dir(RESULTS, setting_name, seed, fold)


def train_params(wildcards):
    name = _grid.setting_name(wildcards.sample, wildcards.channels, wildcards.occlusion,
                              wildcards.labels)
    if name not in PLAN:
        raise WorkflowError(f"no case of the config trains the setting {name}")
    params = _plan.job_params(PLAN[name])
    fold = _grid.parse_fold(wildcards.fold)
    if fold is not None:  # a cross-validation model: only for the disputed-age settings
        if name not in CV_SETTINGS or fold[1] != FOLDS:
            raise WorkflowError(f"{wildcards.fold.rstrip('/')} of {name}: the config asks for "
                                f"no such cross-validation model (disputes.folds: {FOLDS})")
        params["fold"] = list(fold)
    return params


def warm_start_weights(wildcards):
    """The kept weights of the unmasked model a warm-started training fine-tunes (config
    warm_start), the same seed; none for a training from scratch."""
    job = PLAN.get(_grid.setting_name(wildcards.sample, wildcards.channels, wildcards.occlusion,
                                      wildcards.labels))
    if job is None or job.start_from is None or _grid.parse_fold(wildcards.fold) is not None:
        return []
    return [f"{train_dir(job.start_from, wildcards.seed)}/{_keep.MODEL_FILE}"]


# The trainings' software: under --sdm conda their own env (envs/<training_env>.yaml), else the
# Python that runs Snakemake (and every Slurm job, on a shared filesystem). Printed before the
# plan, with the backend, precision and GPUs of the trainings, and a warning where they would stop.
TRAIN_CONDA_ENV = f"envs/{config['training_env']}.yaml"
if not (Path(workflow.basedir) / TRAIN_CONDA_ENV).is_file():
    raise WorkflowError(f"config error: training_env {config['training_env']!r}: there is no "
                        f"{TRAIN_CONDA_ENV}; choose one of envs/*.yaml")
TRAIN_DEVICE = dict(
    gpus_per_job=workflow.resource_settings.overwrite_resources.get("train", {}).get("gpu"),
    conda_env=TRAIN_CONDA_ENV
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else None,
    allow_cpu_fallback=config["allow_cpu_fallback"],
)
for _line in _device.plan_lines(config["keras_backend"], _plan.precisions(PLAN, SEEDS),
                                **TRAIN_DEVICE):
    print(_line, file=sys.stderr)


def stop_if_trainings_cannot_run(trainings):
    """Before the first job: trainings that ask for a GPU this environment cannot use would each
    stop at once on their node; stop here instead, having submitted nothing."""
    if not trainings:
        return
    message = _device.stop_before_submission(config["keras_backend"], **TRAIN_DEVICE)
    if message:
        raise WorkflowError(message)


def explained_models():
    """The kept weights of every explained (setting, seed) run (read by clusterage.train.keep.load_model);
    listing them as inputs of the attribution rule keeps them."""
    return [f"{train_dir(name, seed)}/{_keep.MODEL_FILE}" for name in ATTRIBUTION_SETTINGS
            for seed in EXPLAINED_SEEDS]


def attribution_files(name):
    """One file per explained (setting, seed): maps.h5, profiles.csv or occlusion.csv."""
    return [f"{_grid.attribution_dir(RESULTS, s, seed)}/{name}" for s in ATTRIBUTION_SETTINGS
            for seed in EXPLAINED_SEEDS]


def train_priority(wildcards):
    """Runs that the attribution step explains train first, so that their attribution jobs run
    beside the remaining trainings instead of after them."""
    name = _grid.setting_name(wildcards.sample, wildcards.channels, wildcards.occlusion,
                              wildcards.labels)
    explained = (name in ATTRIBUTION_SETTINGS and _grid.parse_fold(wildcards.fold) is None
                 and int(wildcards.seed) in EXPLAINED_SEEDS)
    return 1 if explained else 0


def sample_range(wildcards):
    return dict(config["samples"][wildcards.sample])


def all_runs(filename):
    """``filename`` of every (setting, seed) run of the plan."""
    return [f"{train_dir(name, seed)}/{filename}" for name in PLAN for seed in SEEDS]


def null_files():
    return expand(f"{RESULTS}/null/{{sample}}.json", sample=GRID.null_samples)


def figure_file(name, ext="png"):
    return f"{RESULTS}/figures/{name}.{ext}"


def final_outputs():
    return [*report_outputs(), *survey_figures(), *kept_models(), *disputes_outputs(),
            f"{RESULTS}/summary.txt"]


def summary_figures():
    """The PNG of every figure, for the summary (which waits for them)."""
    return [f for f in report_outputs() + survey_figures() if f.endswith(".png")]


def survey_figures():
    """Figures that show the simulated survey itself (synthetic data only)."""
    if SOURCE != "synthetic" or config["data"]["local_dir"]:
        return []
    return [figure_file("survey_example_cutouts"), figure_file("survey_colour_colour")]


def survey_catalogs():
    """The sed tables (ages and photometry) of every simulated galaxy."""
    return [f"{SURVEY}/{sed}" for g in GALAXIES for _, sed in galaxy_files(g).catalog_relpaths()]


def first_galaxy_images():
    return [f"{SURVEY}/{rel}" for rel in galaxy_files(GALAXIES[0]).image_relpaths()]


# Figures and report: every figure of clusterage.report.figure_registry gets one plot rule.
TABLES = {"scatter": f"{RESULTS}/tables/scatter.csv",
          "per_seed": f"{RESULTS}/tables/scatter_per_seed.csv",
          "groups": f"{RESULTS}/tables/scatter_by_group.csv",
          "differences": f"{RESULTS}/tables/differences.csv",
          "missing": f"{RESULTS}/tables/missing_runs.csv",
          "attribution_profiles": f"{RESULTS}/tables/attribution_profiles.csv",
          "test_time_occlusion": f"{RESULTS}/tables/test_time_occlusion.csv"}


def fig2_runs():
    """Paper Fig. 2's models: per sample the unmasked five-filter model (else the unmasked
    white-light one), first seed drawn, every seed's run for the spread (``seed_dirs``);
    samples without an unmasked model are left out."""
    runs = []
    for sample in _grid.full_first(SAMPLES):
        for channels in _grid.CHANNELS:
            name = _grid.Setting(channels, sample).name
            if name in PLAN:
                runs.append({"sample": sample, "setting": name, "seed": SEEDS[0],
                             "dir": train_dir(name, SEEDS[0]),
                             "seed_dirs": [{"seed": seed, "dir": train_dir(name, seed)}
                                           for seed in SEEDS]})
                break
    return runs


def bar_chart_of(wildcards):
    return BAR_CHARTS[wildcards.chart]


def figure_inputs(figure):
    """What a figure is drawn from, as the plot rule's named inputs."""
    if figure.needs == "runs":
        every = [s["dir"] for r in fig2_runs() for s in r["seed_dirs"]]
        return {"predictions": [f"{r['dir']}/predictions.csv" for r in fig2_runs()],
                "history": [f"{r['dir']}/history.csv" for r in fig2_runs()],
                "seed_predictions": [f"{d}/predictions.csv" for d in every],
                "seed_history": [f"{d}/history.csv" for d in every],
                "scatter": TABLES["scatter"]}
    if figure.needs == "clusters":
        return {"clusters": DATASET}
    if figure.needs == "disputes":
        return {"disputes": [f"{d['dir']}/{f}" for d in dispute_folders()
                             for f in ("ensemble.csv", "ensemble.json", "disagreements.csv")]}
    if figure.needs == "attribution":
        return {"maps": attribution_files("maps.h5"), "scatter": TABLES["scatter"],
                **{k: TABLES[k] for k in ("attribution_profiles", "test_time_occlusion")}}
    return {figure.needs: TABLES[figure.needs]}


def figure_params(figure):
    extra = {"runs": {"runs": fig2_runs()}, "clusters": {"subsamples": config["subsamples"]},
             "disputes": {"disputes": dispute_folders()}}
    params = {"figure": figure.rule, "sample_ranges": SAMPLE_RANGES, **extra.get(figure.needs, {})}
    if figure.name == CHART:
        params["chart"] = bar_chart_of
    return params


def figure_constraints(figure):
    return {"chart": "|".join(BAR_CHARTS) or "^$"} if figure.name == CHART else {}


def figure_outputs(figure):
    """PNG for the report (with caption), PDF beside it for the paper."""
    return {"png": report(figure_file(figure.name), caption=f"../report/{figure.caption}.rst",
                          category=figure.category),
            "pdf": figure_file(figure.name, "pdf")}


def figure_log(figure):
    if figure.name == CHART:
        return f"{RESULTS}/logs/{figure.rule}/{figure.name}.log"
    return f"{RESULTS}/logs/{figure.rule}.log"


def report_outputs():
    """Every table and figure (PNG and PDF) the report shows."""
    figures = [figure_file(name, ext) for name, _, _ in figure_files(config["bar_charts"])
               for ext in ("png", "pdf")]
    return list(TABLES.values()) + figures


# What the training jobs read and what the finished runs keep (clusterage.survey.views, clusterage.train.keep).
WHITE_LIGHT = f"{RESULTS}/dataset/white_light.h5"
KEEP_MODEL_LOG = f"{RESULTS}/logs/keep_model/{_grid.SETTING}/{{fold}}seed{{seed}}.log"


def train_dataset(wildcards):
    """A white_light training reads the one-channel view of the dataset, five_band the dataset."""
    return WHITE_LIGHT if wildcards.channels == "white_light" else DATASET


def kept_models():
    """Weights files of the runs the config keeps (keep_models) and of the explained runs
    (attribution), whose rule lists its run's model.weights.h5 as an input and loads it."""
    kept = [f"{train_dir(name, seed)}/{_keep.MODEL_FILE}"
            for name in GRID.kept for seed in SEEDS]
    return list(dict.fromkeys(kept + explained_models()))


def announce_duplicates(trainings):
    """Trainings that an earlier Snakemake process started or submitted and never saw end
    (killed, or its login session closed) may still be queued or running as its jobs. Whoever
    finishes such a run keeps its outputs for this process's job for it, which reuses them
    instead of training again (clusterage.train.runlock)."""
    earlier = []
    dag = workflow.dag
    local = workflow.executor_plugin is None or workflow.executor_plugin.common_settings.local_exec
    for job in trainings:
        # A queued job is named by Snakemake's incomplete marker, a started one by the run lock.
        queued = workflow.persistence.external_jobids(job)
        # Planned as incomplete (an earlier process's job: under a cluster executor its marker
        # names that job) and the marker gone now: that job ended since, perhaps before this
        # process set its planning time.
        planned_incomplete = (job.rule not in dag.forcerules
                              and not dag.forcefiles.isdisjoint(job.output))
        ended = planned_incomplete and not queued and not local
        earlier_job = _runlock.announce_rerun(
            f"{job.params.checkpoint}.run", job.output, job.log[0], os.environ[PLANNED_AT],
            queued=queued, ended_while_planning=ended)
        if earlier_job:
            earlier.append(earlier_job)
    if earlier:
        logger.info(
            f"{len(earlier)} trainings were started or submitted by an earlier Snakemake process "
            f"that did not see them end (jobs {' '.join(sorted(earlier))}). Where such a job "
            "still runs or waits in the queue, this run's job for the same training waits for it "
            "and reuses its outputs instead of training again (to stop those jobs instead: "
            "scancel <id>).")


def slurm_onstart(jobs):
    """Under the Slurm executor, before the first submission: see a job cancelled by a user
    (sacct: CANCELLED by <uid>) as failed, and check the training's request against the cluster
    (clusterage.cluster.slurm_states, clusterage.cluster.slurm_preflight)."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm":
        return
    from clusterage.cluster import slurm_preflight, slurm_states

    slurm_states.install()
    train = next((j for j in jobs if j.rule.name == "train"), None)
    if train is None:
        return
    settings = workflow.resource_settings
    resources = {k: v for k, v in train.resources.items() if not k.startswith("_")}
    origins = slurm_preflight.origins_of(
        settings.overwrite_resources.get("train", {}), settings.default_resources or {},
        "train" in settings.overwrite_threads)
    try:
        passed = slurm_preflight.check(resources, train.threads, origins)
    except slurm_preflight.PreflightError as exc:
        raise WorkflowError(slurm_preflight.message(exc)) from None
    logger.info(f"Slurm preflight: {passed}")
    arrays = getattr(workflow.executor_settings, "array_jobs", None)
    for name in ("train", "attribution"):
        if _slurm_arrays.in_arrays(name, arrays):
            to_run = sum(j.rule.name == name for j in jobs)
            why = (_slurm_arrays.refusal(name, _slurm_arrays.plugin_version())
                   or _slurm_arrays.stall(name, to_run, workflow.resource_settings.nodes))
            if why:
                raise WorkflowError(f"Slurm job arrays: {why}")


def stop_on_unrecoverable_failures(trainings):
    """While the run goes on: once several trainings fail with the same error that no retry can
    cure, say so and stop the run as Ctrl-C does (clusterage.cluster.breaker)."""
    if not trainings:
        return

    def stop(reason):
        logger.error(f"Stopping the run: {reason}")
        os.kill(os.getpid(), signal.SIGINT)

    _breaker.watch(_grid.unrecoverable_dir(RESULTS), float(os.environ[PLANNED_AT]),
                   config["stop_after_unrecoverable"], stop)


def on_start():
    """Before the first job: the checks and announcements above, over the jobs to run."""
    jobs = list(workflow.dag.needrun_jobs())
    trainings = [j for j in jobs if j.rule.name == "train"]
    stop_if_trainings_cannot_run(trainings)
    slurm_onstart(jobs)
    announce_duplicates(trainings)
    stop_on_unrecoverable_failures(trainings)


onstart:
    on_start()


# Disputed ages: per setting the seeds' ensemble; for the chosen settings a catalog and gallery,
# from k-fold cross-validation models when disputes.folds >= 2 (every cluster out of sample).
DISPUTES = f"{RESULTS}/disputes"
FOLDS = config["disputes"]["folds"]
DISPUTE_SETTINGS = GRID.disputed
ENVIRONMENT_SETTINGS = GRID.environment  # each disputed against the cluster model below
CLUSTER_MODEL = DISPUTE_SETTINGS[0] if ENVIRONMENT_SETTINGS else None
CV_SETTINGS = GRID.cross_validated if FOLDS >= 2 else []
CLUSTER_ENSEMBLE = f"{DISPUTES}/{CLUSTER_MODEL}/ensemble"


def dispute_folders():
    """Each disputed-age setting's folder under <results>/disputes, with the catalog's cuts."""
    cuts = {k: config["disputes"][k] for k in ("threshold", "max_spread")}
    return [{"setting": name, "dir": f"{DISPUTES}/{name}", **cuts} for name in DISPUTE_SETTINGS]


def dispute_runs():
    """Each disputed-age setting with the run folders its ensemble combines (partial report)."""
    return [{**d, "runs": [str(Path(p).parent)
                           for p in setting_predictions(_grid.setting_parts(d["setting"]))]}
            for d in dispute_folders()]


def setting_predictions(wildcards):
    """predictions.csv of every model whose test split the setting's ensemble combines: each
    seed's, or each (fold, seed)'s in cross-validation mode."""
    name = setting_of(wildcards)
    if name not in PLAN:
        raise WorkflowError(f"no case of the config trains the setting {name}")
    folds = [_grid.fold_part(f, FOLDS) for f in range(FOLDS)] if name in CV_SETTINGS else [""]
    return [f"{train_dir(name, seed, fold)}/predictions.csv" for fold in folds for seed in SEEDS]


def setting_of(wildcards):
    w = wildcards if isinstance(wildcards, dict) else dict(wildcards.items())
    return _grid.setting_name(w["sample"], w["channels"], w["occlusion"], w["labels"])


def all_galaxy_files():
    return {g: galaxy_files(g) for g in GALAXIES}


def all_catalog_files():
    """The obs and sed tables of every galaxy (their photometry places clusters on U-B vs V-I)."""
    return [f"{data_dir()}/{rel}" for g in GALAXIES
            for pair in galaxy_files(g).catalog_relpaths() for rel in pair]


def disputes_outputs():
    ensembles = [f"{DISPUTES}/{name}/ensemble.csv" for name in PLAN]
    catalogs = [f"{DISPUTES}/{name}/{out}" for name in DISPUTE_SETTINGS
                for out in ("disagreements.csv", "gallery")]
    environment = [f"{DISPUTES}/{name}/{out}" for name in ENVIRONMENT_SETTINGS
                   for out in ("environment_disagreements.csv", "environment_gallery")]
    return ensembles + catalogs + environment


onsuccess:
    from clusterage.report.summary import show

    show(f"{RESULTS}/summary.txt")
