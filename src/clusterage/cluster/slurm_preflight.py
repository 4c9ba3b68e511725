"""Check a training's Slurm request against the cluster once, before anything is submitted.

The training resources of the profile (partition, account, GPUs, memory, cores, wall time) are
turned into the sbatch options that snakemake-executor-plugin-slurm would send, and tried with
``sbatch --test-only`` (nothing is queued), after two cheap ``sinfo`` checks: the partition
exists, and the wall time fits its limit (a longer job is accepted but never starts unless the
cluster enforces partition limits). A request the cluster cannot satisfy stops the run with one
message naming the setting to change, instead of every training failing three times at
submission.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from typing import Callable, Mapping

PROFILE = "profiles/slurm/config.yaml"
# The resources of a job that become sbatch options (as in the plugin's submit command), in the
# order they are tried when sbatch refuses a request without saying which part it cannot meet.
GPU_KEYS = ("gpu", "gpu_model", "gres")
MEMORY_KEYS = ("mem_mb", "mem_mb_per_cpu")
CPU_KEYS = ("cpus_per_task", "cpus_per_gpu", "threads")


class PreflightError(Exception):
    """The cluster cannot run the training as the profile asks; the message says what to set."""


Runner = Callable[..., subprocess.CompletedProcess]


def sbatch_options(res: Mapping[str, object], threads: int) -> dict[str, list[str]]:
    """The sbatch options for these resources, grouped by the resource they come from."""
    opts: dict[str, list[str]] = {}
    if res.get("slurm_partition"):
        opts["slurm_partition"] = ["-p", str(res["slurm_partition"])]
    if res.get("slurm_account"):
        opts["slurm_account"] = ["-A", str(res["slurm_account"])]
    if res.get("runtime"):
        opts["runtime"] = ["-t", str(res["runtime"])]
    if res.get("constraint") is not None:
        opts["constraint"] = ["-C", str(res["constraint"])]
    if res.get("qos") is not None:
        opts["qos"] = [f"--qos={res['qos']}"]
    if res.get("mem_mb_per_cpu"):
        opts["mem_mb_per_cpu"] = ["--mem-per-cpu", str(res["mem_mb_per_cpu"])]
    elif res.get("mem_mb"):
        opts["mem_mb"] = ["--mem", str(res["mem_mb"])]
    gpu_job = bool(res.get("gpu")) or "gpu" in str(res.get("gres") or "")
    if res.get("gres"):
        opts["gres"] = [f"--gres={res['gres']}"]
    if res.get("gpu_model"):
        opts["gpu_model"] = [f"--gpus={res['gpu_model']}:{res.get('gpu') or 1}"]
    elif res.get("gpu"):
        opts["gpu"] = [f"--gpus={res['gpu']}"]
    if not gpu_job:
        opts["tasks"] = [f"--ntasks={res.get('tasks') or 1}"]
    cpus = res.get("cpus_per_task")
    if cpus:
        if int(cpus) > 0:
            opts["cpus_per_task"] = [f"--cpus-per-task={max(1, int(cpus))}"]
    elif gpu_job and res.get("cpus_per_gpu"):
        if int(res["cpus_per_gpu"]) > 0:
            opts["cpus_per_gpu"] = [f"--cpus-per-gpu={res['cpus_per_gpu']}"]
    else:
        opts["threads"] = [f"--cpus-per-task={threads}"]
    if res.get("slurm_extra"):
        opts["slurm_extra"] = shlex.split(str(res["slurm_extra"]))
    return opts


def minutes(slurm_time: str) -> float | None:
    """Slurm's time limit ([D-]HH:MM:SS, MM:SS, MM) in minutes; None for unlimited/unknown."""
    text = slurm_time.strip()
    days, _, rest = text.rpartition("-")
    parts = rest.split(":")
    if not text or (days and not days.isdigit()) or not all(p.isdigit() for p in parts):
        return None
    if len(parts) == 1:
        h, m, s = 0, int(parts[0]), 0
    elif len(parts) == 2:
        h, (m, s) = 0, map(int, parts)
    elif len(parts) == 3:
        h, m, s = map(int, parts)
    else:
        return None
    return int(days or 0) * 1440 + h * 60 + m + s / 60


def _sinfo(args: list[str], run: Runner) -> list[str]:
    proc = run(["sinfo", "-h", *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise PreflightError(f"sinfo {' '.join(args)} failed: {proc.stderr.strip()}")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def _setting(key: str, origins: Mapping[str, str]) -> str:
    return origins.get(key, f"set-resources: train: {key}")


def _value(key: str, res: Mapping[str, object], threads: int):
    return threads if key == "threads" else res.get(key)


def explain(stderr: str, refused: str, res: Mapping[str, object], threads: int,
            origins: Mapping[str, str], partition: str, nodes: str) -> str:
    """The message for a refused request; ``refused`` is the resource found to cause it."""
    setting = _setting(refused, origins)
    value = _value(refused, res, threads)
    sbatch = stderr.strip().splitlines()[-1] if stderr.strip() else "refused"
    where = f"partition '{partition}'" if partition else "the default partition"
    if refused == "gres":
        what = f"asks for a generic resource (gres) that no node of {where} has"
    elif refused in GPU_KEYS:
        what = f"asks for GPUs that no node of {where} has"
    elif refused in MEMORY_KEYS:
        what = f"asks for more memory (MB) than a node of {where} has"
    elif refused in CPU_KEYS:
        what = f"asks for more cores than a node of {where} has"
    elif refused == "slurm_account":
        what = f"is not an account you may use on {where}"
    elif refused == "qos":
        what = "is not a QOS you may use"
    elif refused == "constraint":
        what = f"matches no node feature of {where}"
    elif refused == "runtime":
        what = f"is not a wall time (minutes) that {where} accepts"
    else:
        what = f"is refused by {where}"
    hint = f" (nodes: {nodes}; sinfo -o '%P %c %m %G')" if nodes else ""
    return f"{setting} {value!r} {what}{hint}. sbatch --test-only said: {sbatch}"


def check(res: Mapping[str, object], threads: int, origins: Mapping[str, str] | None = None,
          run: Runner = subprocess.run) -> str:
    """Raise PreflightError naming the setting the cluster cannot satisfy; else say what passed.

    ``res`` are the training job's resources, ``threads`` its threads, ``origins`` where each
    resource was set (e.g. ``{"mem_mb": "set-resources: train: mem_mb"}``).
    """
    origins = origins or {}
    if shutil.which("sbatch") is None and run is subprocess.run:
        return "no sbatch on PATH: preflight skipped"
    partition = str(res.get("slurm_partition") or "")
    listed = _sinfo(["-o", "%P"], run)
    names = [p.rstrip("*") for p in listed]
    if partition and partition not in names:
        raise PreflightError(
            f"{_setting('slurm_partition', origins)} {partition!r} is not a partition of this "
            f"cluster (sinfo -s lists: {', '.join(names) or 'none'})")
    if not partition:
        default = [p.rstrip("*") for p in listed if p.endswith("*")]
        partition = default[0] if default else ""
    if partition and res.get("runtime"):
        limit = _sinfo(["-p", partition, "-o", "%l"], run)
        limit_min = minutes(limit[0]) if limit else None
        if limit_min is not None and float(res["runtime"]) > limit_min:
            raise PreflightError(
                f"{_setting('runtime', origins)} {res['runtime']} (minutes) is longer than "
                f"partition '{partition}' allows ({limit[0]}): such a job is queued but never "
                "starts (squeue reason PartitionTimeLimit)")
    nodes = ", ".join(sorted(set(_sinfo(["-p", partition, "-o", "%c cores %m MB %G"], run)
                                 if partition else [])))
    opts = sbatch_options(res, threads)

    def test_only(groups: dict[str, list[str]]) -> subprocess.CompletedProcess:
        args = [a for group in groups.values() for a in group]
        return run(["sbatch", "--test-only", *args, "--wrap", "true"],
                   capture_output=True, text=True, timeout=60)

    first = test_only(opts)
    if first.returncode == 0:
        request = " ".join(a for group in opts.values() for a in group)
        return f"the cluster accepts the training's request ({request})"
    err = first.stderr
    direct = [("Invalid partition", "slurm_partition"), ("Invalid account", "slurm_account"),
              ("Invalid qos", "qos"), ("time limit", "runtime"), ("Invalid feature", "constraint")]
    for needle, key in direct:
        if needle.lower() in err.lower() and key in opts:
            raise PreflightError(explain(err, key, res, threads, origins, partition, nodes))
    # "Requested node configuration is not available" and the like: find the resource whose
    # removal makes the request acceptable.
    for key in (*GPU_KEYS, *MEMORY_KEYS, *CPU_KEYS, "constraint", "slurm_extra"):
        if key in opts:
            trial = {k: v for k, v in opts.items() if k != key}
            if test_only(trial).returncode == 0:
                raise PreflightError(explain(err, key, res, threads, origins, partition, nodes))
    command = " ".join(["sbatch", "--test-only", *(a for g in opts.values() for a in g)])
    raise PreflightError(
        f"the cluster refuses the training's request ({command}): {err.strip()}. The request "
        f"comes from set-resources: train and set-threads: train (or default-resources)")


def origins_of(overwrite: Mapping[str, object], defaults: Mapping[str, object],
               threads_set: bool) -> dict[str, str]:
    """Where each training resource is set: set-resources: train, else default-resources."""
    out = {key: f"default-resources: {key}" for key in defaults}
    out.update({key: f"set-resources: train: {key}" for key in overwrite})
    out["threads"] = "set-threads: train" if threads_set else "threads of rule train"
    return out


def message(error: PreflightError) -> str:
    """The one message a user sees: what is wrong and where to change it."""
    return f"Slurm preflight: {error} -- change it in {PROFILE} (or your copy of that profile)."

