"""The experiment grid: cases x diameters x seeds -> training jobs.

A case is a curve or a bar of a figure; a ``Setting`` is what a model is shown. Cases that
share a setting (D = 0 is the unmasked model of every sweep) share its trained models, so the
plan lists each setting once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .galaxies import diameter_pixels
from .grid import Hyper, Setting, SplitSpec


class ConfigError(ValueError):
    """A config value that cannot work; the message names the case and key."""


@dataclass(frozen=True)
class Job:
    setting: Setting
    hyper: Hyper
    sample_range: dict


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
                    bool(case.get("shuffled_labels", False)), case_unit(case)) for d in diameters]


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
    samples = config.get("samples", {})
    size = config.get("cutout_size", 112)
    jobs: dict[str, Job] = {}
    owners: dict[str, str] = {}
    for name, case in cases(config).items():
        if case["sample"] not in samples:
            raise ConfigError(f"case {name!r}: unknown sample {case['sample']!r}; "
                              f"samples are {sorted(samples)}")
        _check_diameters(name, case, size, config.get("data", {}).get("galaxies"))
        training = {**config.get("training", {}), **case.get("training", {})}
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
    return jobs


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
        spec = SplitSpec.from_config(config.get("split"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    galaxies = config.get("data", {}).get("galaxies")
    absent = [g for g in spec.test_galaxies if galaxies is not None and g not in galaxies]
    if absent:
        raise ConfigError(f"split.test_galaxies {absent} are not in data.galaxies {galaxies}")
    return spec


def seeds(config: dict) -> list[int]:
    n = int(config.get("seeds", 5))
    if n < 1:
        raise ConfigError(f"seeds must be at least 1, got {n}")
    return list(range(n))


def explained_seeds(config: dict) -> list[int]:
    """The seeds whose runs the attribution step explains: the first ``attribution.seeds``."""
    all_seeds = seeds(config)
    n = (config.get("attribution") or {}).get("seeds")
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
    named = {c["sample"] for c in config.get("cases") or []}
    named |= {s for chart in config.get("bar_charts") or [] for s in chart.get("samples", [])}
    known = config.get("samples") or {}
    return sorted((s for s in named if s in known), key=lambda s: (s != "full", s))


def precisions(jobs: dict[str, Job], seeds: list[int]) -> dict[str, int]:
    """Training jobs per dtype policy (a case may override the top-level precision)."""
    out: dict[str, int] = {}
    for job in jobs.values():
        out[job.hyper.precision] = out.get(job.hyper.precision, 0) + len(seeds)
    return out


def job_params(job: Job) -> dict:
    """Everything a training job depends on, as plain values (Snakemake's params trigger)."""
    return {"setting": asdict(job.setting), "hyper": asdict(job.hyper),
            "sample_range": job.sample_range}
