"""A training given a GPU it cannot see stops at once and says why; every log names its device.

No GPU is needed: a job is "given" a GPU through Slurm's variables or the rule's gpu resource on
a machine where no backend can see one, which is exactly the CPU-only-build mistake on a cluster.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from runs import copy_workflow, snakemake
from test_training import make_dataset

from clusterage.train import device

# What Slurm sets in a job that holds one GPU (the CI cluster's fake GPU looks the same).
SLURM_GPU_JOB = {"SLURM_JOB_ID": "42", "SLURM_GPUS_ON_NODE": "1", "SLURM_JOB_GPUS": "0",
                 "CUDA_VISIBLE_DEVICES": "0"}
BACKENDS = [b for b in ("tensorflow", "jax") if importlib.util.find_spec(b) is not None]

RUNNER = """
import json, sys
from clusterage.grid import Hyper, Setting
from clusterage.train.training import train
args = json.loads(sys.argv[1])
train(args["data"], args["out"], Setting("five_band", "full"), seed=0,
      hyper=Hyper(conv_filters=(4, 4, 4), dense_units=(8,), epochs=2, rotations=1,
                  batch_size=16, learning_rate=1e-3),
      allow_cpu_fallback=args["fallback"])
"""


def test_slurm_gpu_variables_and_the_gpu_resource_mean_a_gpu_was_given():
    assert device.gpus_given(0, {}) == []
    assert device.gpus_given(0, {"SLURM_GPUS_ON_NODE": "0", "SLURM_JOB_ID": "1"}) == []
    # CUDA_VISIBLE_DEVICES alone is set by many images and workstations: not a GPU request.
    assert device.gpus_given(0, {"CUDA_VISIBLE_DEVICES": "0"}) == []
    assert device.gpus_given(0, SLURM_GPU_JOB) == ["SLURM_GPUS_ON_NODE=1", "SLURM_JOB_GPUS=0"]
    assert device.gpus_given(0, {"SLURM_GPUS": "a100:1"}) == ["SLURM_GPUS=a100:1"]
    assert device.gpus_given(1, {}) == ["the rule's gpu resource is 1"]
    assert device.gpus_given("2", {"SLURM_STEP_GPUS": "0,1"}) == [
        "the rule's gpu resource is 2", "SLURM_STEP_GPUS=0,1"]


def test_precision_other_than_float32_is_stated_as_a_deviation():
    assert device.precision_note("float32") is None
    assert "deviation from the paper (float32)" in device.precision_note("mixed_bfloat16")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("device") / "d.h5", n=60, size=24)


def train_in_subprocess(data, out, backend, extra_env, fallback):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1",
               **extra_env)
    for var in device.SLURM_GPU_VARIABLES:  # only what this test gives
        if var not in extra_env:
            env.pop(var, None)
    args = {"data": str(data), "out": str(out), "fallback": fallback}
    code = "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n" + RUNNER
    return subprocess.run([sys.executable, "-c", code, json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_job_given_a_gpu_its_backend_cannot_see_stops_before_training(data, tmp_path, backend):
    proc = train_in_subprocess(data, tmp_path / "run", backend, SLURM_GPU_JOB, fallback=False)
    assert proc.returncode != 0, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("clusterage.train.device.DeviceError: this job was given a GPU"), last
    # The message names the backend, what it sees, why, and the environment to use.
    assert f"Keras backend {backend!r} sees none, only" in last and "CPU" in last.upper()
    assert "SLURM_GPUS_ON_NODE=1" in last
    assert "CPU-only build" in last
    assert "CLUSTERAGE_EXTRAS=gpu ./bootstrap.sh" in last and "envs/clusterage-gpu.yaml" in last
    assert "allow_cpu_fallback: true" in last
    # Stopped before any data was read or epoch run: nothing written.
    assert "epoch" not in proc.stderr and not (tmp_path / "run").exists()


def test_allow_cpu_fallback_trains_on_the_cpu_with_a_warning_and_records_it(data, tmp_path):
    backend = BACKENDS[0]
    proc = train_in_subprocess(data, tmp_path / "run", backend, SLURM_GPU_JOB, fallback=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The log starts with the device, backend, precision and the GPU the job was given.
    ours = [line.split(":", 2)[2] for line in proc.stderr.splitlines()
            if line.startswith(("INFO:clusterage", "WARNING:clusterage"))]
    assert ours[0].lower().startswith("device: cpu only (cpu:0"), ours[:5]
    assert ours[1].startswith("backend: keras ") and f"on {backend} (" in ours[1], ours[1]
    assert ours[2] == "precision: float32"
    assert ours[3].startswith("GPU given to this job: SLURM_GPUS_ON_NODE=1; SLURM_JOB_GPUS=0")
    assert ours[4].startswith("allow_cpu_fallback is true, training on the CPU: this job was given")
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    compute = meta["compute"]
    assert compute["cpu_fallback"] is True and compute["gpus"] == []
    assert compute["backend"] == backend and "SLURM_GPUS_ON_NODE=1" in compute["gpus_given"]
    assert compute["precision"] == "float32" and compute["precision_note"] is None


# --- The Slurm profile's settings (JAX, mixed_bfloat16) through the workflow, on CPU --------------------

TRAINED = "results-tiny/train/full/five_band/none/true/seed0"


@pytest.fixture(scope="module")
def profile_run(tmp_path_factory):
    """One training of the tiny workflow with the config that profiles/slurm sets."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (./test.sh installs it: clusterage[jax])")
    work = copy_workflow(tmp_path_factory.mktemp("profile-config"))
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    (work / "profile-config.yaml").write_text(yaml.safe_dump(profile["config"]))
    configs = ["--configfile", "tests/configs/tiny.yaml", "profile-config.yaml"]
    out = snakemake(work, f"{TRAINED}/metrics.json", "--cores", "2", *configs)
    assert out.returncode == 0, out.stderr[-4000:]
    return work, configs


@pytest.mark.slow
def test_the_profiles_config_trains_on_jax_in_bfloat16_and_says_so(profile_run):
    work, _ = profile_run
    meta = json.loads((work / TRAINED / "metadata.json").read_text())
    assert meta["versions"]["backend"] == "jax" and meta["compute"]["backend"] == "jax"
    assert meta["hyperparameters"]["precision"] == "mixed_bfloat16"
    assert meta["compute"]["precision"] == "mixed_bfloat16"
    assert meta["compute"]["precision_note"].startswith("deviation from the paper (float32)")
    log = work / "results-tiny/logs/train/full/five_band/none/true/seed0.log"
    ours = [line.split(": ", 1)[1] for line in log.read_text().splitlines()
            if " clusterage." in line and " clusterage.train.runlock" not in line]  # the job's lock first
    assert ours[0].startswith("device: CPU only (cpu:0"), ours[:4]
    assert ours[1].startswith("backend: keras ") and " on jax (jax " in ours[1], ours[1]
    assert ours[2].startswith("precision: mixed_bfloat16; deviation from the paper"), ours[2]
    assert ours[3] == "GPU given to this job: none", ours[3]
    assert "scatter train" in ours[-1]


@pytest.mark.slow
def test_a_run_whose_trainings_ask_for_an_unusable_gpu_stops_before_any_job(profile_run):
    """The trainings ask for a GPU (the rule's gpu resource) and this Python's JAX is the CPU
    build: each would stop at once on its node (tests above), so the run stops before starting
    any job, saying why and what to use."""
    work, configs = profile_run
    run = "results-tiny/train/full/white_light/none/true/seed0"
    failed = snakemake(work, f"{run}/metrics.json", "--cores", "1", *configs,
                       "--set-resources", "train:gpu=1", timeout=300)
    assert failed.returncode != 0
    assert "WARNING: the trainings ask for a GPU but" in failed.stderr  # said in the plan too
    assert "each would stop at once on its node, so none is submitted" in failed.stderr
    assert "CPU-only build of jax" in failed.stderr
    assert "CLUSTERAGE_EXTRAS=gpu ./bootstrap.sh" in failed.stderr
    assert "Finished jobid" not in failed.stderr, "a job ran before the check"
    assert not (work / "results-tiny/logs/train/full/white_light/none/true/seed0.log").exists()
    assert not (work / run).exists()
