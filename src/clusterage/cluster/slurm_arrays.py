"""Trainings as Slurm job arrays (snakemake-executor-plugin-slurm's ``slurm-array-jobs``): how
many sbatch calls a sweep makes, and why the workflow does not let the trainings go out as arrays
with the plugin installed here.

Tried on a real cluster with plugin 2.8.0 (and its jobstep plugin 0.6.1), the newest release:
every task of an array runs the Snakemake command of the array's first job, which starts the
task's own job and then checks the *first* job's outputs, so every task but the first fails
with MissingOutputException (upstream issue #447); and the plugin holds back the jobs it is
handed while more are ready, waiting for a full array, which Snakemake counts as running, so a
sweep with more trainings than ``jobs`` stops submitting (upstream issue #473). A run that asks
for arrays for a rule that runs a model stops before its first submission and says so
(:func:`refusal`); with a later plugin the stall is still checked (:func:`stall`).
"""

from __future__ import annotations

import math
from importlib import metadata

PLUGIN = "snakemake-executor-plugin-slurm"
PLUGIN_ARRAY_LIMIT = 1000  # the plugin's default slurm-array-limit
# The newest plugin release tried on a real cluster, whose array mode fails as said above.
BROKEN_UP_TO = (2, 8, 0)


def array_rules(setting) -> set[str]:
    """The rules that ``slurm-array-jobs`` names (``"train, attribution"``, ``"all"``)."""
    if not setting:
        return set()
    return {r.strip() for r in str(setting).replace(";", ",").split(",") if r.strip()}


def in_arrays(rule: str, setting) -> bool:
    rules = array_rules(setting)
    return rule in rules or "all" in rules


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(c for c in piece if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def plugin_version() -> str | None:
    try:
        return metadata.version(PLUGIN)
    except metadata.PackageNotFoundError:
        return None


def refusal(rule: str, version: str | None) -> str | None:
    """Why ``rule`` cannot go out as job arrays with this plugin version; None where it may."""
    if version is None or _version(version) > BROKEN_UP_TO:
        return None
    return (f"slurm-array-jobs includes {rule}, but {PLUGIN} {version} runs every task of an "
            "array with its first job's command, so every task but the first fails with "
            "MissingOutputException (upstream issue #447), and it stops submitting when more "
            "jobs are ready than `jobs` (upstream issue #473). Leave slurm-array-jobs out; to "
            "make fewer sbatch calls, pack trainings into jobs with profiles/slurm-packed")


def stall(rule: str, to_run: int, jobs: int) -> str | None:
    """Why the plugin's array mode may stop submitting the ``to_run`` jobs of ``rule`` under this
    ``jobs`` limit, with what to set; None where every ready job is handed over at once."""
    if to_run <= jobs:
        return None
    return (f"slurm-array-jobs includes {rule}: {to_run} {rule} jobs are to run but `jobs` is "
            f"{jobs}, and {PLUGIN} holds back jobs it is handed while more are ready, waiting "
            f"for a full array, so the run would stop submitting. Set `jobs: {to_run}` or more, "
            "or leave slurm-array-jobs out")


def sbatch_calls(trainings: int, packed: int | None = None) -> str:
    """The plan's line on how many sbatch calls the trainings make (retries not counted)."""
    line = f"sbatch calls for the trainings: {trainings}, one per training (retries add one each)"
    if packed and packed > 1:
        line = (f"sbatch calls for the trainings: {math.ceil(trainings / packed)}, {packed} "
                "trainings per job (retries add one each)")
    version = plugin_version()
    if refusal("train", version):
        return line + f"; not as job arrays with {PLUGIN} {version} (docs/slurm.md, 'Job arrays')"
    return line + (f"; as job arrays of at most {PLUGIN_ARRAY_LIMIT} tasks "
                   f"(`slurm-array-jobs: train`, `jobs: {trainings}` or more): "
                   f"{math.ceil(trainings / PLUGIN_ARRAY_LIMIT)}")
