"""The conda environments for cluster users list the same packages as pyproject.toml."""

import re
import tomllib

import pytest
import yaml
from conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def _pins(requirements) -> dict[str, str]:
    """name -> 'name[extras]==version' of the exactly pinned requirements (markers dropped)."""
    out = {}
    for r in requirements:
        spec = r.split(";")[0].replace(" ", "")
        if "==" in spec:
            out[_name(spec)] = spec
    return out


def _listed(env_file: str) -> tuple[set[str], list[str]]:
    """(package names, pip requirement lines) of an envs/ file."""
    env = yaml.safe_load((REPO / "envs" / env_file).read_text())
    names, pip = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip = [d for d in dep["pip"] if not d.startswith("-e")]
            names |= {_name(d) for d in pip}
        else:
            names.add(_name(dep))
    return names - {"python", "pip"}, pip


def _wanted(*extras: str) -> set[str]:
    wanted = {_name(r) for r in PROJECT["dependencies"]}
    for extra in extras:
        wanted |= {_name(r) for r in PROJECT["optional-dependencies"][extra]}
    return wanted


def test_conda_env_matches_pyproject():
    wanted = _wanted("test") | {"tensorflow-cpu"}  # the default Keras backend
    listed, _ = _listed("clusterage.yaml")
    assert wanted == listed, f"only in pyproject: {wanted - listed}; only in envs: {listed - wanted}"


def test_gpu_env_matches_the_gpu_extra_with_the_same_pins():
    wanted = _wanted("test", "gpu")
    listed, pip = _listed("clusterage-gpu.yaml")
    assert wanted == listed, f"only in pyproject: {wanted - listed}; only in envs: {listed - wanted}"
    extra = _pins(PROJECT["optional-dependencies"]["gpu"])
    assert extra["jax"].startswith("jax[cuda12]=="), "the GPU build is JAX's CUDA 12 wheels"
    assert _pins(pip) == extra, "envs/clusterage-gpu.yaml and the gpu extra pin different versions"
    assert "tensorflow" not in " ".join(pip), "the GPU env trains on JAX; TensorFlow is not needed"


def test_the_jax_extra_is_the_cpu_build_of_the_gpu_extras_jax():
    """CI installs the jax extra: it must test the JAX version the GPU nodes run."""
    gpu_version = _pins(PROJECT["optional-dependencies"]["gpu"])["jax"].split("==")[1]
    cpu = _pins(PROJECT["optional-dependencies"]["jax"])
    assert cpu["jax"] == f"jax=={gpu_version}" and cpu["jaxlib"] == f"jaxlib=={gpu_version}", cpu


@pytest.mark.parametrize("profile", ["slurm", "slurm-packed"])
def test_the_slurm_profiles_train_in_an_env_that_exists(profile):
    config = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())["config"]
    assert (REPO / "envs" / f"{config['training_env']}.yaml").is_file()
