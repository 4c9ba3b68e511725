"""The Slurm profiles: what they ask of a cluster, checked without one (fast, runs everywhere)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
PACKING_KEYS = {"groups", "group-components", "resources", "set-resource-scopes"}
# Resources that belong to a cluster (profiles/), never to a rule (workflow/rules/).
CLUSTER_RESOURCES = re.compile(
    r"\b(slurm_partition|slurm_account|slurm_extra|gpu|gpu_model|gres|cpus_per_gpu|cpus_per_task"
    r"|runtime|constraint|qos|nodes|tasks)\s*=")


def load(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


GPU_RULES = {"train", "attribution"}  # the model's own computations; every other rule is local


def test_slurm_profile_asks_for_one_gpu_for_the_model_rules_only():
    profile = load("slurm")
    assert profile["executor"] == "slurm"
    assert set(profile["set-resources"]) == GPU_RULES, "only the model's rules go to Slurm with a GPU"
    for rule in GPU_RULES:
        res = profile["set-resources"][rule]
        assert res["gpu"] == 1 and res["mem_mb"] > 0 and res["runtime"] > 0, (rule, res)
    assert "gpu" not in profile["default-resources"], "a default GPU would reach every job"
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] is True


def test_packed_profile_is_the_slurm_profile_plus_packing():
    plain, packed = load("slurm"), load("slurm-packed")
    assert {k: v for k, v in packed.items() if k not in PACKING_KEYS} == plain, (
        "profiles/slurm-packed must repeat profiles/slurm exactly, plus the packing keys")
    assert packed["groups"] == {"train": "trainpack"}
    assert packed["group-components"]["trainpack"] >= 2
    # One GPU per packed job, limited inside each job only (else one job at a time cluster-wide).
    assert packed["resources"] == {"gpu": 1} and packed["set-resource-scopes"] == {"gpu": "local"}


def test_rules_hold_no_cluster_resources():
    offenders = [f"{path.name}:{n}: {line.strip()}"
                 for path in sorted((REPO / "workflow" / "rules").glob("*.smk"))
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if CLUSTER_RESOURCES.search(line.split("#", 1)[0])]
    assert not offenders, "set cluster resources in profiles/, not in rules:\n" + "\n".join(offenders)


def test_dry_run_with_the_profile_gives_the_model_rules_their_gpu():
    """Snakemake reads the profile (an unknown or misspelt key would stop it here) and plans."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(PROFILES / "slurm"), "-n", "--forceall",
         "--configfile", "tests/configs/tiny.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # "rule NAME:" then, a few lines later, "resources: ..." for every planned job.
    jobs = re.findall(r"^rule (\w+):\n(?:(?!^rule ).*\n)*?\s+resources: (.*)$", out, flags=re.M)
    gpu_rules = {rule for rule, res in jobs if re.search(r"\bgpu=1\b", res)}
    assert GPU_RULES <= {rule for rule, _ in jobs}, out[-3000:]
    assert gpu_rules == GPU_RULES, gpu_rules
    # Before the plan: what every training will run on (the profile's config: JAX, bf16).
    trains = sum(rule == "train" for rule, _ in jobs)
    assert re.search(rf"^Trainings: {trains} jobs, 1 GPU each; Keras backend jax, precision "
                     rf"mixed_bfloat16; software: \S+ \(jax ", out, flags=re.M), out[:3000]


def test_without_the_profile_trainings_stay_on_tensorflow_in_float32():
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "--configfile",
         "tests/configs/tiny.yaml", "--config", "seeds=1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert re.search(r"^Trainings: 4 jobs, no GPU; Keras backend tensorflow, precision float32; "
                     r"software: ", out, flags=re.M), out[:3000]


def test_user_config_goes_over_the_profile_in_the_plan():
    """Expected precedence: profile's `config:` < the user's --configfile < --config. Snakemake
    alone applies the profile's block last, so a user asking for float32 got bfloat16."""
    def trainings(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "--profile", str(PROFILES / "slurm"), "-n",
             "--forceall", "--configfile", "tests/configs/tiny.yaml", *args],
            cwd=REPO, capture_output=True, text=True, timeout=300)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        return re.search(r"^Trainings: .*$", out, flags=re.M).group(0)

    line = trainings("tests/configs/slurm_user.yaml")
    assert "Keras backend tensorflow, precision float32" in line, line
    line = trainings("tests/configs/slurm_user.yaml", "--config", "seeds=1",
                     "training={precision: mixed_bfloat16}")
    assert line.startswith("Trainings: 4 jobs") and "tensorflow, precision mixed_bfloat16" in line, line
    # A --config that names none of the profile's keys leaves the profile's layer in place.
    line = trainings("--config", "seeds=1")
    assert line.startswith("Trainings: 4 jobs") and "jax, precision mixed_bfloat16" in line, line


def test_profile_layer_is_found_as_snakemake_finds_profiles(tmp_path, monkeypatch):
    from clusterage.configfile import (
        at_paths_of,
        command_line_args,
        command_line_gives_config,
        command_line_profile,
        layered,
    )

    monkeypatch.chdir(REPO)
    block, source = command_line_profile(["snakemake", "--profile", "profiles/slurm", "all"], {})
    assert block["keras_backend"] == "jax" and source.endswith("profiles/slurm/config.yaml")
    assert command_line_profile(["snakemake", "-n"], {"SNAKEMAKE_PROFILE": "profiles/slurm"})[0]
    assert command_line_profile(["snakemake", "-n"], {}) == ({}, None)
    assert command_line_gives_config(["snakemake", "--config", "seeds=1"])
    assert not command_line_gives_config(["snakemake", "--configfile", "x.yaml"])
    config = layered({"training": {"epochs": 200, "precision": "float32"}, "seeds": 5},
                     {"training": {"precision": "mixed_bfloat16"}},
                     [{"training": {"precision": "float32"}}], {"seeds": 1})
    assert config == {"training": {"epochs": 200, "precision": "float32"}, "seeds": 1}
    # What the jobs are sent: the resolved values at the keys the profile and --config set only.
    assert at_paths_of(config, {"training": {"precision": "mixed_bfloat16"}}, {"seeds": 1}) == {
        "training": {"precision": "float32"}, "seeds": 1}
    # ... as --config items that Snakemake reads back as the same values, with no quote in them
    # (a quote cuts a Slurm job array's --wrap="..." short).
    from snakemake.cli import parse_config

    sent = {"allow_cpu_fallback": True, "keras_backend": "tensorflow", "seeds": 1,
            "training": {"precision": "float32"}, "training_env": "clusterage-gpu"}
    items = command_line_args(sent)
    assert parse_config(items) == sent
    assert not any("'" in item or '"' in item for item in items), items
