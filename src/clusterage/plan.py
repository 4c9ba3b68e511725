"""The experiment grid: cases x diameters x seeds -> training jobs, and which of them each
later step uses.

A case is a curve or a bar of a figure; a ``Setting`` is what a model is shown. Cases that
share a setting (D = 0 is the unmasked model of every sweep) share its trained models, so the
plan lists each setting once. ``Plan.of(config)`` decides everything once (the runs, the seeds,
the settings explained, disputed and kept, the null predictors, the galaxy groups); the workflow,
the tables and the footprint read it instead of the config.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from .galaxies import diameter_pixels
from .grid import Hyper, Setting, SplitSpec, full_first, run_dir


class ConfigError(ValueError):
    """A config value that cannot work; the message names the case and key."""


@dataclass(frozen=True)
class Job:
    setting: Setting
    hyper: Hyper
    sample_range: dict
    start_from: str | None = None  # warm start: the setting whose trained model this one starts from


def case_unit(case: dict) -> str:
    """'pc' for a case swept in parsecs (``diameters_pc``), else 'px'."""
    return "pc" if "diameters_pc" in case else "px"


def case_diameters(name: str, case: dict) -> list:
    """The case's mask diameters, in its unit (no key: [0], no mask)."""
    if "diameters" in case and "diameters_pc" in case:
        raise ConfigError(f"case {name!r}: give 'diameters' (pixels) or 'diameters_pc' (parsecs), "
                          f"not both")
    return list(case.get("diameters_pc", case.get("diameters", [0])))


def case_settings(name: str, case: dict) -> list[Setting]:
    """The settings of one case, one per diameter."""
    diameters = case_diameters(name, case)
    mask = case["mask"]
    if mask == "none" and any(d != 0 for d in diameters):
        raise ConfigError(f"case {name!r}: mask 'none' takes no diameters other than 0, got {diameters}")
    # D = 0 is no mask at all: the same model whether the case sweeps inner or outer masks.
    return [Setting(case["channels"], case["sample"], mask if d else "none", int(d),
                    bool(case["shuffled_labels"]), case_unit(case)) for d in diameters]


def cases(config: dict) -> dict[str, dict]:
    """The config's list of cases by name; names must be unique."""
    out: dict[str, dict] = {}
    for case in config["cases"]:
        name = case["name"]
        if name in out:
            raise ConfigError(f"case name {name!r} is used twice in 'cases'")
        out[name] = case
    return out


def build(config: dict) -> dict[str, Job]:
    """Every distinct setting of the config's cases, keyed by ``Setting.name``."""
    split_spec(config)  # a split that cannot work fails before any job is planned
    samples = config["samples"]
    size = config["cutout_size"]
    jobs: dict[str, Job] = {}
    owners: dict[str, str] = {}
    for name, case in cases(config).items():
        if case["sample"] not in samples:
            raise ConfigError(f"case {name!r}: unknown sample {case['sample']!r}; "
                              f"samples are {sorted(samples)}")
        _check_diameters(name, case, size, config["data"]["galaxies"])
        training = {**config["training"], **case["training"]}
        try:
            hyper = Hyper.from_config(training)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"case {name!r}: {exc}") from None
        for setting in case_settings(name, case):
            job = Job(setting, hyper, dict(samples[case["sample"]]))
            if setting.name in jobs and jobs[setting.name] != job:
                raise ConfigError(
                    f"cases {owners[setting.name]!r} and {name!r} share the setting "
                    f"{setting.name} but differ in training settings; give them the same "
                    f"'training' overrides or different diameters/samples")
            jobs.setdefault(setting.name, job)
            owners.setdefault(setting.name, name)
    return warm_started(jobs, config["warm_start"]) if config["warm_start"]["enabled"] else jobs


def warm_start_source(setting: Setting) -> Setting | None:
    """The model a warm-started setting starts from: the unmasked model of the same sample,
    channels and (true) labels; None for a setting trained from scratch (unmasked, or a
    shuffled-label control, which must not inherit what a true-label model learnt)."""
    if setting.mask == "none" or setting.shuffled_labels:
        return None
    return Setting(setting.channels, setting.sample)


def warm_started(jobs: dict[str, Job], options: dict) -> dict[str, Job]:
    """The jobs with every masked true-label setting fine-tuned from its unmasked model, for
    ``warm_start.epochs`` (default a fifth of its own) with ``warm_start.patience``."""
    out = {}
    for name, job in jobs.items():
        source = warm_start_source(job.setting)
        if source is None:
            out[name] = job
            continue
        if source.name not in jobs:
            raise ConfigError(f"warm_start: {name} would start from {source.name}, which no case "
                              f"of the config trains; add it (D = 0 of the sweep) or turn "
                              f"warm_start off")
        epochs = options["epochs"] or math.ceil(job.hyper.epochs / 5)
        patience = min(options["patience"] or job.hyper.patience, epochs)
        out[name] = replace(job, hyper=replace(job.hyper, epochs=epochs, patience=patience),
                            start_from=source.name)
    return out


def _check_diameters(name: str, case: dict, size: int, galaxies) -> None:
    """A diameter past the cutout side hides everything (inner) or nothing (outer); in parsecs,
    the nearest galaxy's pixels are the test, and every galaxy needs a distance."""
    diameters = case_diameters(name, case)
    if case_unit(case) == "px":
        for d in diameters:
            if d > size:
                raise ConfigError(f"case {name!r}: diameter {d} is larger than the {size}-pixel cutout")
        return
    for g in galaxies or []:
        try:
            px = diameter_pixels(max(diameters), [g])[0]
        except ValueError as exc:
            raise ConfigError(f"case {name!r}: {exc}") from None
        if px > size:
            raise ConfigError(f"case {name!r}: diameter {max(diameters)} pc is {px:.0f} pixels in "
                              f"{g}, larger than the {size}-pixel cutout")


def split_spec(config: dict) -> SplitSpec:
    """The config's ``split``, checked against the galaxies the config uses."""
    try:
        spec = SplitSpec.from_config(config["split"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    galaxies = config["data"]["galaxies"]
    absent = [g for g in spec.test_galaxies if galaxies is not None and g not in galaxies]
    if absent:
        raise ConfigError(f"split.test_galaxies {absent} are not in data.galaxies {galaxies}")
    return spec


def seeds(config: dict) -> list[int]:
    n = int(config["seeds"])
    if n < 1:
        raise ConfigError(f"seeds must be at least 1, got {n}")
    return list(range(n))


def explained_seeds(config: dict) -> list[int]:
    """The seeds whose runs the attribution step explains: the first ``attribution.seeds``."""
    all_seeds = seeds(config)
    n = config["attribution"]["seeds"]
    if n is None:
        return all_seeds
    if not 1 <= int(n) <= len(all_seeds):
        raise ConfigError(f"attribution.seeds is {n}, but the grid trains {len(all_seeds)} "
                          f"seed(s) (key 'seeds')")
    return all_seeds[:int(n)]


def null_samples(config: dict) -> list[str]:
    """The samples whose null predictor is scored: those of the cases and of the bar charts.

    The null predictor needs no training, so a bar chart shows it even for a sample no case of
    the grid trains on.
    """
    named = {c["sample"] for c in config["cases"]}
    named |= {s for chart in config["bar_charts"] or [] for s in chart["samples"]}
    return full_first(s for s in named if s in config["samples"])


def precisions(jobs: dict[str, Job], seeds: list[int]) -> dict[str, int]:
    """Training jobs per dtype policy (a case may override the top-level precision)."""
    out: dict[str, int] = {}
    for job in jobs.values():
        out[job.hyper.precision] = out.get(job.hyper.precision, 0) + len(seeds)
    return out


def job_params(job: Job) -> dict:
    """Everything a training job depends on, as plain values (Snakemake's params trigger)."""
    params = {"setting": asdict(job.setting), "hyper": asdict(job.hyper),
              "sample_range": job.sample_range}
    if job.start_from:
        params["start_from"] = job.start_from
    return params


def explained_settings(spec, names, channels=("five_band", "white_light")) -> list[str]:
    """The settings the attribution step explains: ``spec`` (``attribution.settings``) None = the
    grid's unmasked true-label models of these channels (every sample); otherwise a list of
    setting names, each of which must be in the grid."""
    names = list(names)
    if spec is None:
        settings = {n: Setting.from_name(n) for n in names}
        return [n for n, s in settings.items()
                if s.channels in channels and s.occlusion == "none" and not s.shuffled_labels]
    missing = [s for s in spec if s not in names]
    if missing:
        raise ConfigError(f"attribution.settings lists {', '.join(map(repr, missing))}, which no "
                          f"case of the config trains; settings of the grid: {', '.join(names)}")
    return list(dict.fromkeys(spec))


def disputed_settings(chosen, names) -> list[str]:
    """The settings that get a disagreement catalog: ``chosen`` (``disputes.settings``), or by
    default the unmasked five_band model of the full sample (else of the first sample; else the
    first unmasked white_light model): the best-informed model, whose disagreements mean most."""
    names = list(names)
    chosen = list(chosen or [])
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise ConfigError(f"disputes.settings: {unknown[0]!r} is no setting of the grid; "
                          f"settings are {', '.join(names)}")
    if chosen:
        return chosen
    for channels in ("five_band", "white_light"):
        for sample in full_first(Setting.from_name(name).sample for name in names):
            name = Setting(channels, sample).name
            if name in names:
                return [name]
    return []


def environment_settings(chosen, names, disputed) -> list[str]:
    """The environment-only settings disputed against the cluster model (the first of
    ``disputed``): ``chosen`` (``disputes.environment.settings``), each a true-label inner-mask
    setting of the grid."""
    names = list(names)
    chosen = list(dict.fromkeys(chosen or []))
    for name in chosen:
        if name not in names:
            raise ConfigError(f"disputes.environment.settings: {name!r} is no setting of the grid; "
                              f"settings are {', '.join(names)}")
        s = Setting.from_name(name)
        if s.mask != "inner" or s.shuffled_labels:
            raise ConfigError(f"disputes.environment.settings: {name!r} sees the cluster (or "
                              "learns shuffled labels); an environment-only model hides the "
                              "cluster with an inner mask, e.g. full/white_light/inner24/true")
    if chosen and not disputed:
        raise ConfigError("disputes.environment.settings needs a cluster model to compare with: "
                          "set disputes.settings (e.g. full/five_band/none/true)")
    if chosen and disputed[0] in chosen:
        raise ConfigError(f"disputes.environment.settings: {disputed[0]!r} is also the cluster "
                          "model (the first of disputes.settings)")
    return chosen


def kept_settings(config: dict) -> list[str]:
    """The settings whose runs keep their weights by the config's choice (``keep_models``).

    A case's ``keep_models`` overrides the top-level one for its settings; a setting shared by
    several cases is kept if any of them keeps it.
    """
    kept = set()
    for name, case in cases(config).items():
        if (case.get("keep_models") or config["keep_models"]) == "weights":
            kept.update(s.name for s in case_settings(name, case))
    return sorted(kept)


def subsamples(config: dict) -> dict[str, list[str]]:
    """Galaxy groups (``subsamples``; the paper's near and far) restricted to the configured
    galaxies."""
    present = set(config["data"]["galaxies"])
    return {name: [g for g in galaxies if g in present]
            for name, galaxies in (config["subsamples"] or {}).items()}


@dataclass(frozen=True)
class Case:
    """One case of the grid: its mask kind, diameter unit and settings (one per diameter)."""
    name: str
    mask: str
    unit: str
    settings: tuple


@dataclass(frozen=True)
class Plan:
    """What the config's grid asks for, decided once for every step after the training."""
    results: str
    cutout_size: int
    cases: dict          # case name -> Case
    jobs: dict           # setting name -> Job, each setting once
    seeds: list
    split: SplitSpec
    null_samples: list   # samples whose null predictor is scored
    explained: list      # settings whose runs the attribution step explains ...
    explained_seeds: list  # ... for these seeds
    disputed: list       # settings that get a disagreement catalog
    environment: list    # environment-only settings disputed against the first of ``disputed``
    kept: list           # settings whose runs keep their weights by the config's choice (or
                         # because a warm-started setting starts from them)
    subsamples: dict     # galaxy group -> its configured galaxies

    @classmethod
    def of(cls, config: dict) -> "Plan":
        """The plan of a validated config (the schema's defaults filled in)."""
        jobs = build(config)
        disputed = disputed_settings(config["disputes"]["settings"], jobs)
        environment = environment_settings(config["disputes"]["environment"]["settings"], jobs,
                                           disputed)
        warm_cv = [n for n in [*disputed, *environment] if jobs[n].start_from]
        if warm_cv and config["disputes"]["folds"] >= 2:
            raise ConfigError(f"warm_start and disputes.folds: the cross-validation models of "
                              f"{warm_cv[0]} would be fine-tuned from a model that saw their test "
                              f"clusters; turn warm_start off, or cross-validate unmasked "
                              f"settings only")
        return cls(
            results=config["results"], cutout_size=int(config["cutout_size"]),
            cases={name: Case(name, case["mask"], case_unit(case), tuple(case_settings(name, case)))
                   for name, case in cases(config).items()},
            jobs=jobs, seeds=seeds(config), split=split_spec(config),
            null_samples=null_samples(config),
            explained=explained_settings(config["attribution"]["settings"], jobs),
            explained_seeds=explained_seeds(config),
            disputed=disputed,
            environment=environment,
            kept=sorted(set(kept_settings(config)) | {j.start_from for j in jobs.values() if j.start_from}),
            subsamples=subsamples(config))

    @property
    def cross_validated(self) -> list:
        """The settings whose ensembles come from cross-validation models when
        ``disputes.folds`` >= 2: the disputed ones and the environment-only ones."""
        return list(dict.fromkeys([*self.disputed, *self.environment]))

    def runs(self) -> list[dict]:
        """Every (case, diameter, seed) of the grid, with its setting and run folder."""
        return [{"case": case.name, "setting": s.name, "channels": s.channels, "sample": s.sample,
                 "mask": case.mask, "diameter": s.diameter, "diameter_unit": case.unit,
                 "shuffled_labels": s.shuffled_labels, "seed": seed,
                 "run_dir": run_dir(self.results, s.name, seed)}
                for case in self.cases.values() for s in case.settings for seed in self.seeds]
