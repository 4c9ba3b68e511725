"""Config edits: a changed case reruns only its own trainings; a wrong case is refused by name."""

import re
import shutil

import pytest
import yaml
from runs import fail_first_training, finished_run, job_blocks, snakemake


def planned_jobs(stdout: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs = []
    for rule, block in job_blocks(stdout):
        w = re.search(r"^\s*wildcards: (.*)$", block, re.M)
        jobs.append((rule, dict(kv.split("=", 1) for kv in w.group(1).split(", ")) if w else {}))
    return jobs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return finished_run(tmp_path_factory, "tests/configs/tiny.yaml")


@pytest.mark.slow
def test_editing_one_case_reruns_only_that_cases_trainings(tiny):
    config = yaml.safe_load((tiny / "tests/configs/tiny.yaml").read_text())
    five_band = next(c for c in config["cases"] if c["name"] == "five_band")
    five_band["training"] = {"epochs": config["training"]["epochs"] + 1}
    edited = tiny / "tests/configs/tiny_edited.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))  # key order matters to the params trigger

    out = snakemake(tiny, "-n", "--configfile", str(edited), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = planned_jobs(out.stdout)
    trains = [w for rule, w in jobs if rule == "train"]
    assert sorted((w["channels"], w["occlusion"], w["seed"]) for w in trains) == [
        ("five_band", "none", "0"), ("five_band", "none", "1")]
    # Nothing upstream (data, cutouts, null predictor) reruns; only what reads the runs does.
    upstream = {"synthetic_galaxy", "cutouts", "pack_dataset", "null_predictor"}
    assert not upstream & {rule for rule, _ in jobs}
    assert {"aggregate", "all"} <= {rule for rule, _ in jobs}


@pytest.mark.slow
def test_the_unedited_config_still_has_nothing_to_do(tiny):
    out = snakemake(tiny, "-n", "--configfile", "tests/configs/tiny.yaml", timeout=300)
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_a_failed_training_is_retried_and_succeeds(tiny, tmp_path):
    """--retries 1 (as the Slurm profile sets it): a training that fails once runs again."""
    work = shutil.copytree(tiny, tmp_path / "work", symlinks=True)
    marker = tmp_path / "fail-once.marker"
    fail_first_training(work, marker)
    target = "results-tiny/train/full/five_band/none/true/seed0/metrics.json"
    before = (work / target).stat().st_mtime
    out = snakemake(work, "--cores", "1", "--retries", "1", "--show-failed-logs", "--forcerun=train",
                    "--configfile=tests/configs/tiny.yaml", target, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not marker.exists(), "the fault never fired"
    log = out.stdout + out.stderr
    assert "Error in rule train" in log and "training failed on purpose" in log, log[-3000:]
    assert (work / target).stat().st_mtime > before


BASE = {"name": "my_case", "channels": "five_band", "sample": "full", "mask": "inner",
        "diameters": [12]}


@pytest.mark.parametrize("change, needle", [
    ({"channels": "ultraviolet"}, "ultraviolet"),
    ({"sample": "teenagers"}, "teenagers"),
    ({"mask": "ring"}, "ring"),
    ({"diameters": [12, 500]}, "diameter 500"),
])
def test_a_bad_case_is_refused_naming_the_case(tmp_path, change, needle):
    from conftest import REPO

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"cases": [
        {"name": "fine", "channels": "white_light", "sample": "full", "mask": "none"},
        {**BASE, **change}]}))
    out = snakemake(REPO, "-n", "--configfile", str(cfg), timeout=120)
    message = out.stdout + out.stderr
    assert out.returncode != 0
    assert "my_case" in message and needle in message, message[-2000:]
    assert "Job stats" not in message


def test_a_seed_count_below_one_is_refused(tmp_path):
    from conftest import REPO

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"seeds": 0}))
    out = snakemake(REPO, "-n", "--configfile", str(cfg), timeout=120)
    assert out.returncode != 0
    assert "seeds" in out.stdout + out.stderr
