"""Where a training computes: the GPUs a job was given, the devices its Keras backend sees, and a
loud stop when a job holds a GPU that it cannot use.

A Slurm job that asks for a GPU but runs a CPU-only build (tensorflow-cpu, JAX without its CUDA
plugin) trains on the node's CPU cores, hundreds of times slower, and says nothing. ``check``
stops such a job at once with the backend, the devices it sees and the environment to use,
unless the config sets ``allow_cpu_fallback: true``.
"""

from __future__ import annotations

import logging
import os
import sys
from importlib import metadata

log = logging.getLogger(__name__)

# Slurm sets these in a job (or job step) that holds GPUs: counts (0 = none) and GPU indices.
SLURM_GPU_COUNTS = ("SLURM_GPUS_ON_NODE", "SLURM_GPUS")
SLURM_GPU_INDICES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS")
SLURM_GPU_VARIABLES = SLURM_GPU_COUNTS + SLURM_GPU_INDICES
GPU_ENVIRONMENT = (
    "the GPU environment: start Snakemake from a virtual environment made with "
    "`CLUSTERAGE_EXTRAS=gpu ./bootstrap.sh` (JAX's CUDA 12 build; docs/slurm.md), or add "
    "`--sdm conda` so that the trainings run in envs/clusterage-gpu.yaml; with "
    "keras_backend: jax (profiles/slurm sets it under `config:`; a --configfile or --config of "
    "yours goes over it)")
# Python distributions that tell a CPU-only build from a GPU build, per Keras backend.
_DISTRIBUTIONS = {
    "jax": ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin"),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "torch": ("torch",),
}


class DeviceError(RuntimeError):
    """A job was given a GPU that its Keras backend does not see (or the backend is missing)."""


def gpus_given(gpu_resource=0, environ=None) -> list[str]:
    """Why this job holds a GPU: the rule's ``gpu`` resource, Slurm's GPU variables. Empty: none."""
    environ = os.environ if environ is None else environ
    reasons = []
    try:
        if int(gpu_resource or 0) > 0:
            reasons.append(f"the rule's gpu resource is {gpu_resource}")
    except (TypeError, ValueError):
        reasons.append(f"the rule's gpu resource is {gpu_resource!r}")
    for var in SLURM_GPU_VARIABLES:
        value = environ.get(var, "").strip()
        if value and (var in SLURM_GPU_INDICES or value.rsplit(":", 1)[-1] != "0"):
            reasons.append(f"{var}={value}")
    return reasons


def backend_name(environ=None) -> str:
    """The Keras backend a fresh ``import keras`` picks (KERAS_BACKEND, else Keras's own default)."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    environ = os.environ if environ is None else environ
    return environ.get("KERAS_BACKEND") or "tensorflow"


def _dist_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def installed(backend: str) -> str:
    """The backend's installed builds, e.g. 'jax 0.10.2, jaxlib 0.10.2, jax-cuda12-plugin 0.10.2'."""
    found = [f"{d} {v}" for d in _DISTRIBUTIONS.get(backend, (backend,)) if (v := _dist_version(d))]
    return ", ".join(found) or f"{backend} not installed"


def gpu_build(backend: str) -> bool | None:
    """Whether the installed build of the backend can use an NVIDIA GPU (None: not installed)."""
    if backend == "jax":
        if _dist_version("jax") is None:
            return None
        return bool(_dist_version("jax-cuda12-plugin") or _dist_version("jax-cuda13-plugin"))
    if backend == "tensorflow":
        if _dist_version("tensorflow") is None:
            return False if _dist_version("tensorflow-cpu") else None
        return _dist_version("tensorflow-cpu") is None
    if backend == "torch":
        version = _dist_version("torch")
        return None if version is None else "+cpu" not in version
    return None


def visible_devices(backend: str) -> tuple[list[str], list[str]]:
    """(every device, the accelerators among them) as the backend itself reports them."""
    if backend == "jax":
        import jax

        devices = jax.devices()
        names = [f"{d.platform}:{d.id} ({d.device_kind})" for d in devices]
        return names, [n for d, n in zip(devices, names) if d.platform in ("gpu", "cuda", "rocm")]
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_physical_devices()
        names = [d.name.replace("/physical_device:", "") for d in devices]
        return names, [n for d, n in zip(devices, names) if d.device_type == "GPU"]
    if backend == "torch":
        import torch

        gpus = [f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
        return ["cpu"] + gpus, gpus
    raise DeviceError(f"unknown Keras backend {backend!r}")


def precision_note(precision: str) -> str | None:
    """How a dtype policy deviates from the paper's float32 training (None: it does not)."""
    if precision == "float32":
        return None
    if precision == "mixed_bfloat16":
        return ("deviation from the paper (float32): mixed_bfloat16 computes the convolutions and "
                "dense layers in bfloat16 (8-bit mantissa) with float32 weights, optimiser and "
                "output layer")
    return f"deviation from the paper (float32): dtype policy {precision}"


def _hint(backend: str, build: bool | None) -> str:
    """What is wrong with this environment, in a sentence."""
    if build is None:
        return f"this Python ({sys.prefix}) has no {backend}"
    if not build:
        return f"this Python ({sys.prefix}) has a CPU-only build of {backend} ({installed(backend)})"
    return (f"this Python ({sys.prefix}) has a GPU build ({installed(backend)}) but it found no "
            f"GPU: check the job's allocation and the node's NVIDIA driver (`nvidia-smi`; JAX's "
            f"CUDA 12 wheels need driver 525 or newer)")


def check(precision: str, *, gpu_resource=0, allow_cpu_fallback: bool = False,
          environ=None) -> dict:
    """Log the device(s), backend and precision of a training; stop if a GPU was given but unseen.

    Returns a record for the run's metadata. Raises ``DeviceError`` when the job holds a GPU
    (``gpus_given``) and the backend sees none, unless ``allow_cpu_fallback``.
    """
    environ = os.environ if environ is None else environ
    given = gpus_given(gpu_resource, environ)
    backend = backend_name(environ)
    try:
        import keras  # imports the backend: Keras picks it once, here

        backend = keras.backend.backend()
        devices, gpus = visible_devices(backend)
    except ImportError as exc:
        message = (f"Keras backend {backend!r} cannot be imported ({exc}); "
                   f"{_hint(backend, gpu_build(backend))}. Use {GPU_ENVIRONMENT}"
                   if given else
                   f"Keras backend {backend!r} cannot be imported ({exc}); install it "
                   f"(pip install clusterage[{backend}]) or choose another keras_backend")
        log.error("%s", message)
        raise DeviceError(message) from exc
    record = {"backend": backend, "installed": installed(backend), "python": sys.executable,
              "devices": devices, "gpus": gpus, "gpus_given": given, "precision": precision,
              "precision_note": precision_note(precision), "cpu_fallback": False}
    cuda = environ.get("CUDA_VISIBLE_DEVICES")
    log.info("device: %s", ", ".join(gpus) if gpus else f"CPU only ({', '.join(devices)})")
    log.info("backend: keras %s on %s (%s)", _dist_version("keras"), backend, record["installed"])
    log.info("precision: %s%s", precision, f"; {record['precision_note']}" if record["precision_note"] else "")
    log.info("GPU given to this job: %s%s", "; ".join(given) or "none",
             f" (CUDA_VISIBLE_DEVICES={cuda})" if cuda is not None else "")
    if given and not gpus:
        message = (f"this job was given a GPU ({'; '.join(given)}) but Keras backend {backend!r} "
                   f"sees none, only {', '.join(devices)}: training here would run on the CPU "
                   f"cores, hundreds of times slower. {_hint(backend, gpu_build(backend))}. "
                   f"Use {GPU_ENVIRONMENT}. To train on the CPU anyway, set "
                   f"allow_cpu_fallback: true in the config")
        if not allow_cpu_fallback:
            log.error("%s", message)
            raise DeviceError(message)
        record["cpu_fallback"] = True
        log.warning("allow_cpu_fallback is true, training on the CPU: %s", message)
    return record


def _gpus(gpus_per_job) -> int:
    try:
        return int(getattr(gpus_per_job, "value", gpus_per_job) or 0)
    except (TypeError, ValueError):
        return 0


def cannot_use_gpu(backend: str | None, gpus_per_job, *, conda_env: str | None = None,
                   environ=None) -> str | None:
    """Why trainings that ask for a GPU cannot use one in this environment (its backend has no
    GPU build, or is not installed), in a sentence; None where they can, or ask for none, or run
    in a conda env of their own."""
    environ = os.environ if environ is None else environ
    backend = backend or environ.get("KERAS_BACKEND") or "tensorflow"
    if not _gpus(gpus_per_job) or conda_env:
        return None
    build = gpu_build(backend)
    return None if build else _hint(backend, build)


def stop_before_submission(backend: str | None, gpus_per_job, *, conda_env: str | None = None,
                           allow_cpu_fallback: bool = False, environ=None) -> str | None:
    """The message that stops a run before its first job where every training would stop at once
    on a CPU-only build; None where they can run (or ``allow_cpu_fallback`` says to use the CPU)."""
    why = cannot_use_gpu(backend, gpus_per_job, conda_env=conda_env, environ=environ)
    if why is None or allow_cpu_fallback:
        return None
    return (f"the trainings ask for a GPU but {why}: each would stop at once on its node, so none "
            f"is submitted. Use {GPU_ENVIRONMENT}. To train on the CPU on purpose, set "
            f"allow_cpu_fallback: true")


def plan_lines(backend: str | None, precisions: dict[str, int], gpus_per_job, *,
               conda_env: str | None = None, allow_cpu_fallback: bool = False,
               environ=None) -> list[str]:
    """What a run (or dry run) will train on, before any job starts: the backend, the precision of
    the training jobs (``precisions``: jobs per dtype policy), the GPUs each asks for and the
    software it runs in; and a warning when jobs that ask for a GPU cannot use one here.
    """
    environ = os.environ if environ is None else environ
    backend = backend or environ.get("KERAS_BACKEND") or "tensorflow"
    jobs = sum(precisions.values())
    if conda_env:
        software = f"conda env {conda_env}"
    else:
        kind = {None: "NOT INSTALLED", True: "GPU build", False: "CPU-only build"}[gpu_build(backend)]
        software = f"{sys.prefix} ({installed(backend)}; {kind})"
    gpus = _gpus(gpus_per_job)
    precision = ", ".join(f"{p} ({n} jobs)" if len(precisions) > 1 else p
                          for p, n in sorted(precisions.items()))
    lines = [f"Trainings: {jobs} jobs, {f'{gpus} GPU each' if gpus else 'no GPU'}; Keras backend "
             f"{backend}, precision {precision}; software: {software}"]
    why = cannot_use_gpu(backend, gpus, conda_env=conda_env, environ=environ)
    if why:
        outcome = ("will train on the CPU (allow_cpu_fallback: true)" if allow_cpu_fallback
                   else "stop the run before any job is submitted")
        lines.append(f"WARNING: the trainings ask for a GPU but {why}: they {outcome}. Use "
                     f"{GPU_ENVIRONMENT}.")
    return lines
