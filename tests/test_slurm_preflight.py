"""Preflight of the Slurm profile and the adapter for cancelled jobs, without a cluster.

A small model of sinfo and sbatch --test-only (its messages are Slurm 22.05's) stands in for the
cluster; tests/test_slurm.py runs the same checks against the real one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from clusterage.cluster import slurm_preflight, slurm_states
from clusterage.cluster.slurm_preflight import (
    PreflightError,
    check,
    minutes,
    origins_of,
    sbatch_options,
)

PARTITIONS = {"gpu": "2-00:00:00", "short": "4:00:00", "cpu": "infinite"}
NODE = {"gpu": (16, 64000, 4), "short": (16, 64000, 4), "cpu": (64, 256000, 0)}


def fake_cluster(calls: list | None = None):
    """sinfo and sbatch --test-only of a cluster with the partitions above (gpu is the default)."""

    def run(cmd, **kwargs):
        if calls is not None:
            calls.append(cmd)
        out = lambda text, rc=0, err="": subprocess.CompletedProcess(cmd, rc, text, err)  # noqa: E731
        if cmd[0] == "sinfo":
            fmt, part = cmd[cmd.index("-o") + 1], cmd[cmd.index("-p") + 1] if "-p" in cmd else None
            if fmt == "%P":
                return out("\n".join(p + ("*" if p == "gpu" else "") for p in PARTITIONS))
            if fmt == "%l":
                return out(PARTITIONS[part])
            cores, mem, gpus = NODE[part]
            return out(f"{cores} cores {mem} MB {'gpu:%d' % gpus if gpus else '(null)'}")
        assert cmd[:2] == ["sbatch", "--test-only"] and cmd[-2:] == ["--wrap", "true"], cmd
        args = " ".join(cmd[2:-2])
        part = re.search(r"-p (\S+)", args)
        part = part.group(1) if part else "gpu"
        if part not in PARTITIONS:
            return out("", 1, "sbatch: error: invalid partition specified: x\n"
                              "allocation failure: Invalid partition name specified")
        if re.search(r"--gres=(?!gpu)", args):
            return out("", 1, "sbatch: error: Invalid generic resource (gres) specification")
        cores, mem, gpus = NODE[part]
        gpu = re.search(r"--gpus=(?:(\w+):)?(\d+)", args)
        cpus = re.search(r"--cpus-per-task=(\d+)", args)
        memory = re.search(r"--mem (\d+)", args)
        if ((gpu and (int(gpu.group(2)) > gpus or gpu.group(1) not in (None, "a100")))
                or (cpus and int(cpus.group(1)) > cores)
                or (memory and int(memory.group(1)) > mem)):
            return out("", 1, "allocation failure: Requested node configuration is not available")
        return out("", 0, f"sbatch: Job 12 to start at 2026-01-01T00:00:00 using 4 processors on "
                          f"nodes n1 in partition {part}")

    return run


TRAIN = {"gpu": 1, "mem_mb": 16000, "runtime": 480, "slurm_partition": "gpu"}
ORIGINS = origins_of({"gpu": 1, "mem_mb": 16000, "runtime": 480},
                     {"mem_mb": 2000, "runtime": 30, "slurm_partition": "gpu"}, threads_set=True)


def test_a_request_the_cluster_can_run_passes():
    assert "--gpus=1" in check(TRAIN, 4, ORIGINS, run=fake_cluster())


@pytest.mark.parametrize("change, expected", [
    ({"slurm_partition": "nosuch"},
     "default-resources: slurm_partition 'nosuch' is not a partition of this cluster "
     "(sinfo -s lists: gpu, short, cpu)"),
    ({"slurm_partition": "short"},
     "set-resources: train: runtime 480 (minutes) is longer than partition 'short' allows "
     "(4:00:00)"),
    ({"gpu": 8}, "set-resources: train: gpu 8 asks for GPUs that no node of partition 'gpu' has"),
    ({"gpu_model": "h200"}, "gpu_model 'h200' asks for GPUs that no node of partition 'gpu' has"),
    ({"mem_mb": 512000}, "set-resources: train: mem_mb 512000 asks for more memory (MB) than a "
                         "node of partition 'gpu' has (nodes: 16 cores 64000 MB gpu:4"),
    ({"gres": "tpu:1"}, "gres 'tpu:1' asks for a generic resource (gres) that no node of "
                        "partition 'gpu' has"),
    ({"slurm_partition": "cpu"}, "gpu 1 asks for GPUs that no node of partition 'cpu' has"),
])
def test_a_request_the_cluster_cannot_run_names_the_setting(change, expected):
    with pytest.raises(PreflightError) as err:
        check({**TRAIN, **change}, 4, ORIGINS, run=fake_cluster())
    assert expected in str(err.value)
    assert "change it in profiles/slurm/config.yaml" in slurm_preflight.message(err.value)


def test_too_many_threads_names_set_threads():
    with pytest.raises(PreflightError, match=r"^set-threads: train 32 asks for more cores"):
        check(TRAIN, 32, ORIGINS, run=fake_cluster())


def test_default_partition_is_checked_when_none_is_set():
    calls = []
    res = {k: v for k, v in TRAIN.items() if k != "slurm_partition"}
    assert "runtime" in str(pytest.raises(PreflightError, check, {**res, "runtime": 5000}, 4,
                                          ORIGINS, run=fake_cluster(calls)).value)
    assert ["sinfo", "-h", "-p", "gpu", "-o", "%l"] in calls


def test_sbatch_options_are_the_plugins_options_for_the_profiles_training():
    """Same resource options as snakemake-executor-plugin-slurm's own sbatch call."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    for gpu in (1, 0):
        res = {**profile["default-resources"], **profile["set-resources"]["train"], "gpu": gpu,
               "slurm_partition": "gpu"}
        threads = profile["set-threads"]["train"]

        class Resources(dict):
            __getattr__ = dict.__getitem__

        class Job:
            resources = Resources(res)
            name = "train"

        Job.threads = threads
        params = dict(run_uuid="u", slurm_logfile="l", comment_str="c", account="",
                      partition="-p gpu", workdir=None)
        plugin = get_submit_command(Job(), params) + set_gres_string(Job())
        ours = [a for group in sbatch_options(res, threads).values() for a in group]
        plugin_resource_args = plugin.split(" --comment c ", 1)[1].split()
        assert sorted(ours) == sorted(plugin_resource_args), (ours, plugin)


def test_minutes_reads_slurm_time_limits():
    assert minutes("2-00:00:00") == 2880 and minutes("4:00:00") == 240 and minutes("30:00") == 30
    assert minutes("infinite") is None and minutes("UNLIMITED") is None


# --- the adapter for "CANCELLED by <uid>" ----------------------------------------------------------

@pytest.fixture
def plugin(monkeypatch):
    import snakemake_executor_plugin_slurm as plugin

    monkeypatch.setattr(plugin, "query_job_status", plugin.query_job_status)  # restored after
    return plugin


def test_cancelled_by_a_user_reaches_the_plugin_as_cancelled(plugin):
    slurm_states.install(plugin)
    slurm_states.install(plugin)  # idempotent: one wrapper, not two
    assert not getattr(plugin.query_job_status.__wrapped__, "plain_states", False)
    sacct = f"{sys.executable} -c \"print('11|CANCELLED by 0'); print('12|RUNNING'); print('13|FAILED')\""
    states, seconds = asyncio.run(plugin.query_job_status(sacct, logging.getLogger("test")))
    assert states == {"11": "CANCELLED", "12": "RUNNING", "13": "FAILED"} and seconds >= 0


def test_the_plugin_still_queries_states_where_the_adapter_wraps_them(plugin):
    """A plugin release that moves the query or changes the failure list fails here, loudly."""
    source = inspect.getsource(plugin.Executor.check_active_jobs)
    assert "await query_job_status(" in source
    assert re.search(r'fail_stati = \([^)]*"CANCELLED"', source)
    assert "elif status in fail_stati:" in source


def test_job_arrays_are_refused_with_the_plugin_that_breaks_them_and_the_plan_counts_calls():
    from clusterage.cluster.slurm_arrays import (
        array_rules,
        in_arrays,
        plugin_version,
        refusal,
        sbatch_calls,
        stall,
    )

    assert array_rules("train, attribution") == {"train", "attribution"}
    assert in_arrays("train", "all") and in_arrays("train", "train") and not in_arrays("train", None)
    message = refusal("train", "2.8.0")
    assert "every task but the first fails with MissingOutputException" in message
    assert "#447" in message and "#473" in message and "profiles/slurm-packed" in message
    assert refusal("train", "2.7.1") and refusal("train", "2.9.0") is None
    assert stall("train", 1625, 2000) is None and "`jobs: 1625`" in stall("train", 1625, 50)
    line = sbatch_calls(1625)
    assert line.startswith("sbatch calls for the trainings: 1625, one per training")
    assert sbatch_calls(1625, packed=3).startswith(
        "sbatch calls for the trainings: 542, 3 trainings per job")
    if refusal("train", plugin_version()):  # the installed plugin
        assert "not as job arrays with snakemake-executor-plugin-slurm" in line
