"""The workflow on a real Slurm cluster: profiles/slurm through sbatch, sacct and a (fake) GPU.

A one-node cluster is started by .ci/slurm/start.sh (root and Debian's apt needed; CI has both).
The tiny configuration runs once through the profile; the tests then read Slurm's own accounting
to check that every training was a Slurm job that asked for a GPU, that one training made to fail
was retried, and that the workflow's final outputs are complete. Last, profiles/slurm-packed
trains two of them again, packed into one job with one GPU.
Set CLUSTERAGE_KEEP_SLURM_RUN=1 to keep the run's folder (printed with -s) for a look afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from runs import fail_first_training

REPO = Path(__file__).resolve().parents[1]
START = REPO / ".ci" / "slurm" / "start.sh"
# Upper bound for the whole Slurm run (the tiny chain takes about 2-3 minutes here). The plugin
# can wait forever when its status checks fail; SIGINT is what stops it (SIGTERM does not).
RUN_BOUND_S = 420
# The tiny configuration with one seed: 4 trainings (+1 retry) queue one after another for the
# single GPU, about 30 s each here.
TINY = ["--configfile", "tests/configs/tiny.yaml", "--config", "seeds=1"]

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="session")
def slurm_cluster():
    """Start (or find running) the CI Slurm cluster; skip, saying why, where it cannot run."""
    if os.geteuid() != 0:
        pytest.skip("needs root: .ci/slurm/start.sh installs and starts the Slurm daemons")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("needs Debian's apt-get to install Slurm (or Slurm already installed)")
    try:
        proc = subprocess.run([str(START)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{START} did not finish in 900 s")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        pytest.skip(f"could not start a Slurm cluster ({START}, exit {proc.returncode}):\n{tail}")
    return True


def ci_profile(workdir: Path, name: str = "slurm") -> Path:
    """profiles/<name> with test-size numbers only: this node has 2 cores and one fake GPU."""
    profile = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
    assert profile["set-resources"]["train"]["gpu"] == 1, "the profile itself must ask for the GPU"
    for rule in profile["set-resources"]:  # train, attribution
        profile["set-resources"][rule].update(mem_mb=3000, runtime=15)
        profile["set-threads"][rule] = 1
    profile["default-resources"]["slurm_partition"] = "debug"
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["latency-wait"] = 5
    profile["slurm-keep-successful-logs"] = True  # every job's Slurm log, for a failing test
    out = workdir / f"profile-ci-{name}"
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(profile))
    return out


def planned_jobs(workdir: Path, env: dict) -> dict[str, int]:
    """Job counts per rule from a dry run (Snakemake's "Job stats" table)."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *TINY],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, flags=re.M))
    return {rule: int(n) for rule, n in counts.items()}


def copy_workflow(dest: Path) -> None:
    """The repository's files as git sees them (tracked or new, not ignored): no results, no venv."""
    proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=REPO, capture_output=True, timeout=60)
    if proc.returncode == 0:
        for rel in proc.stdout.decode().split("\0"):
            src = REPO / rel
            if rel and src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
    else:  # not a git checkout: the workflow's own parts
        for name in ("Snakefile", "workflow", "config", "envs", "tests/configs"):
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, dest / name)
            elif (REPO / name).is_file():
                shutil.copy2(REPO / name, dest / name)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster):
    """The tiny workflow, once, through the Slurm profile, with one training made to fail once."""
    # Not pytest's tmp_path: a concurrent pytest run may prune its old base folders mid-run.
    workdir = Path(tempfile.mkdtemp(prefix="clusterage-slurm-"))
    copy_workflow(workdir)
    profile = ci_profile(workdir)
    marker = workdir / "fail-once.marker"
    fail_first_training(workdir, marker)  # the copy's train script fails its first attempt
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    plan = planned_jobs(workdir, env)
    cmd = ["timeout", "-s", "INT", "-k", "30", str(RUN_BOUND_S),
           sys.executable, "-m", "snakemake", "--profile", str(profile),
           *TINY]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=RUN_BOUND_S + 60)
    log = proc.stdout + proc.stderr
    (workdir / "snakemake-slurm.log").write_text(log)
    found = re.search(r"SLURM run ID: (\S+)", log)
    run_id = found.group(1) if found else None
    yield dict(proc=proc, log=log, workdir=workdir, run_id=run_id, plan=plan, marker=marker,
               env=env)
    if run_id:  # leave no job of this run behind, whatever happened
        subprocess.run(["scancel", "--name", run_id], capture_output=True, timeout=30)
    if os.environ.get("CLUSTERAGE_KEEP_SLURM_RUN"):  # to look at a failing run afterwards
        print(f"kept the Slurm test run in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def sacct_jobs(run_id: str) -> list[dict[str, str]]:
    """This run's Slurm jobs as accounted by slurmdbd: one row per job allocation."""
    fields = ["JobID", "Comment", "ReqTRES", "State", "Timelimit"]
    proc = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-1days", "--name", run_id, "-o", ",".join(fields)],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [dict(zip(fields, line.split("|"))) for line in proc.stdout.splitlines() if line]


def slurm_logs(workdir: Path, jobs: list[dict[str, str]], lines: int = 30) -> str:
    """The last lines of these jobs' Slurm logs (.snakemake/slurm_logs/rule_*/*/<jobid>.log)."""
    out = []
    for j in jobs:
        for path in (workdir / ".snakemake" / "slurm_logs").rglob(f"{j['JobID']}.log"):
            out.append(f"--- {path}\n" + "\n".join(path.read_text().splitlines()[-lines:]))
    return "\n".join(out)


def test_workflow_completes_through_slurm(slurm_run):
    proc, workdir = slurm_run["proc"], slurm_run["workdir"]
    assert proc.returncode == 0, (
        f"snakemake --profile exited {proc.returncode} (124 = stopped at {RUN_BOUND_S} s);"
        f" log tail:\n{slurm_run['log'][-4000:]}")
    results = workdir / "results-tiny"
    table = results / "tables" / "scatter.csv"
    assert table.is_file() and len(table.read_text().splitlines()) > 1, table
    figures = sorted((results / "figures").glob("*.png"))
    assert figures and all(f.stat().st_size > 1000 for f in figures), figures
    # Nothing left to do: every output of the workflow is present and up to date.
    again = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *TINY],
        cwd=workdir, env=slurm_run["env"], capture_output=True, text=True, timeout=300)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]


def test_every_training_is_a_slurm_job_with_one_gpu(slurm_run):
    assert slurm_run["run_id"], "no 'SLURM run ID' in the log: did the slurm executor run?"
    jobs = sacct_jobs(slurm_run["run_id"])
    assert jobs, f"sacct knows no job named {slurm_run['run_id']}"
    # Only `train` and `attribution` go to Slurm: every other rule is a local rule.
    rules = {j["Comment"].split("_wildcards_")[0] for j in jobs}
    assert rules == {"rule_train", "rule_attribution"}, jobs
    for j in jobs:
        assert "gres/gpu=1" in j["ReqTRES"].split(","), f"job without a GPU request: {j}"
    completed = {j["Comment"] for j in jobs if j["State"] == "COMPLETED"}
    for rule in ("train", "attribution"):
        done = {c for c in completed if c.startswith(f"rule_{rule}_")}
        assert len(done) == slurm_run["plan"][rule], (rule, done, slurm_run["plan"])
    metrics = list((slurm_run["workdir"] / "results-tiny").rglob("metrics.json"))
    assert len(metrics) == slurm_run["plan"]["train"], metrics


def test_failed_training_is_retried_and_succeeds(slurm_run):
    assert not slurm_run["marker"].exists(), "no training ever ran the fail-once fault"
    jobs = sacct_jobs(slurm_run["run_id"])
    failed = [j for j in jobs if j["State"] == "FAILED"]
    assert len(failed) == 1, (
        f"expected exactly one failed attempt: {jobs}\n{slurm_logs(slurm_run['workdir'], failed)}")
    again = [j for j in jobs if j["Comment"] == failed[0]["Comment"] and j["State"] == "COMPLETED"]
    assert again and int(again[0]["JobID"]) > int(failed[0]["JobID"]), jobs


def minutes(slurm_time: str) -> int:
    """Slurm's [D-]HH:MM:SS as minutes."""
    days, _, hms = slurm_time.rpartition("-")
    h, m, _s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m


def test_packed_profile_runs_several_trainings_per_gpu_job(slurm_run):
    """profiles/slurm-packed: N trainings one after another in one job with one GPU."""
    assert slurm_run["proc"].returncode == 0, "the plain Slurm run failed; see the test above"
    workdir = slurm_run["workdir"]
    profile = ci_profile(workdir, "slurm-packed")
    settings = yaml.safe_load((profile / "config.yaml").read_text())
    per_job = settings["group-components"]["trainpack"]
    runtime = settings["set-resources"]["train"]["runtime"]
    # Two trainings again (enough to share one job when N >= 2, and quick).
    before = {p: p.stat().st_mtime
              for p in sorted((workdir / "results-tiny").rglob("metrics.json"))[:2]}
    trainings = len(before)
    env = slurm_run["env"]  # the fault has fired: its marker is gone
    proc = subprocess.run(
        # Targets first: --forcerun and --config would take them as their own values.
        ["timeout", "-s", "INT", "-k", "30", str(RUN_BOUND_S), sys.executable, "-m", "snakemake",
         *(str(p.relative_to(workdir)) for p in before),
         "--profile", str(profile), *TINY, "--forcerun", "train"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_BOUND_S + 60)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    jobs = sacct_jobs(run_id)
    assert len(jobs) == -(-trainings // per_job), (trainings, per_job, jobs)
    for j in jobs:
        assert j["Comment"] == "rule_trainpack_train" and j["State"] == "COMPLETED", j
        assert "gres/gpu=1" in j["ReqTRES"].split(","), f"a packed job must ask for ONE GPU: {j}"
    # The runtime of a packed job is the sum of its trainings' runtimes.
    assert sum(minutes(j["Timelimit"]) for j in jobs) == trainings * runtime, jobs
    assert all(p.stat().st_mtime > t for p, t in before.items()), "not trained again"
