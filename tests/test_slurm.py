"""The workflow on a real Slurm cluster: profiles/slurm through sbatch, sacct and a (fake) GPU.

A one-node cluster is started by .ci/slurm/start.sh (root and Debian's apt needed; CI has both).
The tiny configuration runs once through the profile; the tests then read Slurm's own accounting
to check that every training was a Slurm job that asked for a GPU, that one training made to fail
was retried, and that the workflow's final outputs are complete. Then profiles/slurm-packed
trains two of them again, packed into one job with one GPU. Last, three faults on the same run,
each of which must cost nothing but time: the Snakemake process killed mid-sweep (no training
runs twice, the table is unchanged), a training cancelled inside Slurm (retried at once), a
partition that does not exist (one message before any submission).
Set CLUSTERAGE_KEEP_SLURM_RUN=1 to keep the run's folder (printed with -s) for a look afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from runs import break_trainings, fail_first_training

REPO = Path(__file__).resolve().parents[1]
START = REPO / ".ci" / "slurm" / "start.sh"
# Upper bound for the whole Slurm run (the tiny chain takes about 2-3 minutes here). The plugin
# can wait forever when its status checks fail; SIGINT is what stops it (SIGTERM does not).
RUN_BOUND_S = 420
# The tiny configuration with one seed: 4 trainings (+1 retry) queue one after another for the
# single GPU, about 30 s each here. A user's config file goes over the profile's `config:`: these
# trainings use TensorFlow, float32, and may fall back to the CPU (the GPU is fake) only because
# that file says so; without it each would stop, saying it sees no GPU.
TINY = ["--configfile", "tests/configs/tiny.yaml", "tests/configs/slurm_user.yaml",
        "--config", "seeds=1"]

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
        [sys.executable, "-m", "snakemake", "-n", "--profile", str(workdir / "profile-ci-slurm"),
         *TINY],
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


def test_user_config_file_goes_over_the_profile(slurm_run):
    """The profile sets JAX, bfloat16 and no CPU fallback under `config:`; the user's config file
    sets TensorFlow, float32 and the fallback: the plan says the user's, every training ran with
    them on its Slurm node, and a key the user leaves alone keeps the profile's value."""
    workdir = slurm_run["workdir"]
    profile = yaml.safe_load((workdir / "profile-ci-slurm" / "config.yaml").read_text())
    assert profile["config"]["keras_backend"] == "jax", "the profile no longer sets the backend"
    assert profile["config"]["training"]["precision"] == "mixed_bfloat16"
    plan = trainings_line(slurm_run["log"])
    assert "Keras backend tensorflow, precision float32" in plan, plan
    metadata = sorted((workdir / "results-tiny" / "train").rglob("metadata.json"))
    assert len(metadata) == 4, metadata
    for path in metadata:
        compute = json.loads(path.read_text())["compute"]
        assert (compute["backend"], compute["precision"]) == ("tensorflow", "float32"), path
    # --config on the command line adds to the profile's layer instead of replacing it.
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--profile", str(workdir / "profile-ci-slurm"),
         "--configfile", "tests/configs/tiny.yaml", "--config", "seeds=1"],
        cwd=workdir, env=slurm_run["env"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = trainings_line(proc.stdout + proc.stderr)
    assert "Trainings: 4 jobs" in plan and "Keras backend jax, precision mixed_bfloat16" in plan, plan


def trainings_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.startswith("Trainings:")]
    assert lines, "no Trainings: line in the plan"
    return lines[0]


def test_cpu_only_environment_stops_before_any_submission(slurm_run):
    """Trainings that ask for a GPU from a Python whose backend has no GPU build (here JAX's CPU
    build, the profile's backend) would each stop on their node: the run stops first, with one
    message and no Slurm job, unless the config allows the CPU fallback."""
    workdir = slurm_run["workdir"]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(workdir / "profile-ci-slurm"),
         "--configfile", "tests/configs/tiny.yaml", "--config", "seeds=1", "--forcerun", "train"],
        cwd=workdir, env=slurm_run["env"], capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    assert log.count("each would stop at once on its node, so none is submitted") == 1, log[-3000:]
    assert "CPU-only build of jax" in log, log[-3000:]
    assert "sbatch call" not in log and "has been submitted" not in log, log[-3000:]
    assert not slurm_jobs(run_ids(log)), "a job was submitted"
    assert "Finished jobid" not in log, "a local job ran before the check"


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


# --- Faults: a killed controller, a cancelled training, a wrong partition -------------------------
# Each must cost nothing but time. These tests reuse the run above: its table is the reference of
# an uninterrupted run.

FAULT_BOUND_S = 600  # the rerun after a killed controller: trainings left + duplicates + figures


def fault_profile(workdir: Path, name: str, **train) -> Path:
    """The CI profile with `gpu: 0` (and `train` overrides): the node's one fake GPU would queue
    the trainings one after another; two CPU jobs fit its two cores at once."""
    profile = yaml.safe_load((workdir / "profile-ci-slurm" / "config.yaml").read_text())
    profile["set-resources"]["train"].update(gpu=0, **train)
    out = workdir / f"profile-ci-{name}"
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(profile))
    return out


def run_ids(log: str) -> list[str]:
    return re.findall(r"SLURM run ID: (\S+)", log)


def slurm_jobs(ids: list[str]) -> list[dict[str, str]]:
    """sacct's rows (one per job allocation) of the Slurm jobs of these Snakemake runs."""
    if not ids:
        return []
    fields = ["JobID", "Comment", "State", "Submit", "Start", "End"]
    proc = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-1days", "--name", ",".join(ids),
         "-o", ",".join(fields)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [dict(zip(fields, line.split("|"))) for line in proc.stdout.splitlines() if line]


def epoch_s(slurm_time: str) -> float | None:
    """sacct's local time (2026-11-30T08:41:36) as time.time(); None for Unknown/None."""
    try:
        return time.mktime(time.strptime(slurm_time, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def run_key(parts: tuple[str, ...]) -> str:
    """(sample, channels, occlusion, labels[, fold<f>of<k>], seed<k>) as the Comment of the run's
    Slurm jobs: the train rule's wildcards in order, the fold empty for the fixed split."""
    *setting, seed = parts
    fold = f"{setting.pop()}/" if len(setting) == 5 else ""
    return "rule_train_wildcards_" + "_".join([*setting, fold, seed.removeprefix("seed")])


def lock_events(workdir: Path, since: float) -> dict[str, list[dict]]:
    """The run locks' history (clusterage.train.runlock) since then, by the Comment of the run's jobs."""
    root = workdir / "results-tiny" / "checkpoints"
    events = {}
    for path in root.rglob("history.jsonl"):
        key = run_key(path.parent.relative_to(root).with_suffix("").parts)
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if recent := [e for e in lines if e["time"] >= since]:
            events[key] = recent
    return events


def overlapping_trainers(jobs: list[dict[str, str]], trainers: list[str]) -> list[tuple]:
    """Pairs of jobs that both trained the run and whose RUNNING intervals (sacct) overlap."""
    spans = {j["JobID"]: (epoch_s(j["Start"]), epoch_s(j["End"]) or time.time()) for j in jobs
             if j["JobID"] in trainers and epoch_s(j["Start"])}
    ids = sorted(spans)
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
            if spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]


def wait_for(condition, limit_s: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        assert proc is None or proc.poll() is None, f"the run ended before {what}"
        time.sleep(0.5)
    raise AssertionError(f"waited {limit_s} s for {what}")


LOCK_JOB = """
import os, sys, time
from pathlib import Path
from clusterage.train.runlock import RunLock
folder, out, hold = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
with RunLock(folder, [out], fingerprint="the same work", poll_s=1) as lock:
    if lock.finished_by is None:
        time.sleep(hold)
        out.write_text("made by Slurm job " + os.environ["SLURM_JOB_ID"])
"""


def test_run_lock_between_real_slurm_jobs(slurm_cluster):
    """A job for a run that a live Slurm job holds waits and reuses its output; one for a run
    whose holder was cancelled takes it over at once (both judged by squeue/sacct)."""
    work = Path(tempfile.mkdtemp(prefix="clusterage-runlock-"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")

    def submit(name: str, hold: float) -> str:
        wrap = shlex.join([sys.executable, "-c", LOCK_JOB, str(work / f"{name}.run"),
                           str(work / f"{name}.out"), str(hold)])
        proc = subprocess.run(["sbatch", "--parsable", "-J", f"clusterage-runlock-{name}", "-n1",
                               "-c1", "--mem", "500", "-t", "5", "-o", str(work / "%j.log"),
                               "--wrap", wrap], env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip().split(";")[0]

    def history(name: str) -> list[tuple[str, str]]:
        path = work / f"{name}.run" / "history.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [(e["event"], e["slurm_job_id"]) for e in map(json.loads, lines)]

    def state(job: str) -> str:
        rows = slurm_jobs_by_id([job])
        return rows[0]["State"] if rows else ""

    jobs = []
    try:
        owner = submit("shared", hold=20)
        jobs.append(owner)
        wait_for(lambda: ("took", owner) in history("shared"), 120, "the first job's lock")
        second = submit("shared", hold=0)
        jobs.append(second)
        wait_for(lambda: all(state(j) == "COMPLETED" for j in (owner, second)), 180,
                 "both jobs to complete")
        assert history("shared") == [("took", owner), ("waiting", second), ("finished", owner),
                                     ("reused", second)], history("shared")
        assert (work / "shared.out").read_text() == f"made by Slurm job {owner}"
        rows = {r["JobID"]: r for r in slurm_jobs_by_id([owner, second])}
        assert epoch_s(rows[second]["Start"]) < epoch_s(rows[owner]["End"]), (
            f"the second job did not run beside the first: {rows}")

        cancelled = submit("killed", hold=300)
        jobs.append(cancelled)
        wait_for(lambda: ("took", cancelled) in history("killed"), 120, "the lock of the job")
        subprocess.run(["scancel", "--signal=KILL", cancelled], check=True, timeout=30)
        wait_for(lambda: state(cancelled).startswith("CANCELLED"), 60, "the cancellation")
        successor = submit("killed", hold=0)
        jobs.append(successor)
        wait_for(lambda: state(successor) == "COMPLETED", 120, "the successor")
        assert history("killed") == [("took", cancelled), ("took", successor),
                                     ("finished", successor)], history("killed")
        took = [json.loads(line) for line in (work / "killed.run" / "history.jsonl")
                .read_text().splitlines()][1]
        assert took["previous"]["slurm_job_id"] == cancelled
    finally:
        subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def slurm_jobs_by_id(ids: list[str]) -> list[dict[str, str]]:
    fields = ["JobID", "State", "Start", "End"]
    proc = subprocess.run(["sacct", "-X", "-n", "-P", "-j", ",".join(ids), "-o", ",".join(fields)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [dict(zip(fields, line.split("|"))) for line in proc.stdout.splitlines() if line]


def test_wrong_partition_stops_before_any_submission(slurm_run):
    """One message naming the profile's setting, before any job (local or Slurm) runs."""
    assert slurm_run["proc"].returncode == 0, "the plain Slurm run failed; see the first test"
    workdir = slurm_run["workdir"]
    profile = fault_profile(workdir, "nosuch", slurm_partition="nosuch")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", str(profile), *TINY,
                           "--forcerun", "train"], cwd=workdir, env=slurm_run["env"],
                          capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    message = ("Slurm preflight: set-resources: train: slurm_partition 'nosuch' is not a partition "
               "of this cluster (sinfo -s lists: debug)")
    assert log.count(message) == 1, log[-3000:]
    assert "sbatch call" not in log and "has been submitted" not in log, log[-3000:]
    assert not slurm_jobs(run_ids(log)), "a job was submitted"
    assert "Finished jobid" not in log, "a local job ran before the preflight"
    assert seconds < 120, seconds


def test_cancelled_training_is_retried(slurm_run):
    """scancel --signal=KILL of a running training (sacct: CANCELLED by 0) is a failed job:
    retried at once, and the retry takes the run over from the cancelled job."""
    assert slurm_run["proc"].returncode == 0, "the plain Slurm run failed; see the first test"
    workdir = slurm_run["workdir"]
    env = {k: v for k, v in slurm_run["env"].items() if k != "CLUSTERAGE_FAIL_ONCE"}
    profile = fault_profile(workdir, "cancel")
    target = sorted((workdir / "results-tiny" / "train").rglob("metrics.json"))[0]
    reference = json.loads(target.read_text())
    t0 = time.time()
    log_path = workdir / "cancelled.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            ["timeout", "-s", "INT", "-k", "30", str(RUN_BOUND_S), sys.executable, "-m",
             "snakemake", str(target.relative_to(workdir)), "--profile", str(profile), *TINY,
             "--forcerun", "train"], cwd=workdir, env=env, stdout=log_file,
            stderr=subprocess.STDOUT)
    log = ""
    try:
        def training_job():
            for events in lock_events(workdir, t0).values():
                for e in events:
                    if e["event"] == "took":
                        return e["slurm_job_id"], events
            return None

        job, _ = wait_for(training_job, 300, "the training to begin", proc)
        subprocess.run(["scancel", "--signal=KILL", job], check=True, timeout=30)
        cancelled_at = time.time()
        proc.wait(timeout=RUN_BOUND_S + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
        log = log_path.read_text()
        subprocess.run(["scancel", "--name", ",".join(run_ids(log)) or "none"],
                       capture_output=True, timeout=30)
    assert proc.returncode == 0, f"exit {proc.returncode} (124: still waiting); log:\n{log[-4000:]}"
    jobs = {j["JobID"]: j for j in slurm_jobs(run_ids(log))}
    assert jobs[job]["State"].startswith("CANCELLED"), jobs[job]
    retries = [j for j in jobs.values() if j["Comment"] == jobs[job]["Comment"] and j is not jobs[job]]
    assert len(retries) == 1 and retries[0]["State"] == "COMPLETED", jobs
    noticed_s = epoch_s(retries[0]["Submit"]) - cancelled_at
    assert noticed_s < 120, f"the retry was submitted {noticed_s:.0f} s after the cancellation"
    events = lock_events(workdir, t0)[jobs[job]["Comment"]]
    took = [e for e in events if e["event"] == "took"]
    assert [e["slurm_job_id"] for e in took] == [job, retries[0]["JobID"]], events
    assert took[1]["previous"]["slurm_job_id"] == job, "the retry did not take over the run"
    assert not overlapping_trainers(list(jobs.values()), [job, retries[0]["JobID"]])
    again = json.loads(target.read_text())
    for key in ("scatter_train", "scatter_validation", "scatter_test", "best_epoch"):
        assert again[key] == pytest.approx(reference[key], rel=1e-5), key
    print(f"retry submitted {noticed_s:.0f} s after scancel; run took {time.time() - t0:.0f} s")


HOLD_AFTER = """
# Fault installed by tests/test_slurm.py: a training that has finished its run holds its Slurm
# job (Snakemake's incomplete marker still set) while this file exists.
while __import__("os").path.exists({marker!r}):
    __import__("time").sleep(0.5)
"""

PAUSE_ANNOUNCE = """    # Fault installed by tests/test_slurm.py: the rerun waits here, its plan made, while this
    # file exists (it says so by touching <file>.reached).
    if os.path.exists({marker!r}):
        Path({marker!r} + ".reached").touch()
        while os.path.exists({marker!r}):
            time.sleep(0.2)
"""


def test_killed_controller_trains_nothing_twice(slurm_run):
    """kill -9 of Snakemake mid-sweep: its Slurm jobs go on. The rerun stops at Snakemake's lock
    (--unlock), then plans and submits the unfinished trainings again, in the worst order of
    events: two trainings had finished (Snakemake's incomplete marker still set) when the rerun
    planned them, and their jobs end, taking the marker with them, before the rerun announces
    its duplicates; the two others still wait in the queue. Every duplicate trains nothing: each
    run is trained by one job, no two at once, and the table is the uninterrupted run's."""
    assert slurm_run["proc"].returncode == 0, "the plain Slurm run failed; see the first test"
    workdir = slurm_run["workdir"]
    env = {k: v for k, v in slurm_run["env"].items() if k != "CLUSTERAGE_FAIL_ONCE"}
    table = workdir / "results-tiny" / "tables" / "scatter.csv"
    reference = pd.read_csv(table)
    train_script = workdir / "workflow" / "scripts" / "train.py"
    common = workdir / "workflow" / "rules" / "common.smk"
    originals = {path: path.read_text() for path in (train_script, common)}
    hold, pause = workdir / "hold-after.marker", workdir / "pause-announce.marker"
    train_script.write_text(originals[train_script] + HOLD_AFTER.format(marker=str(hold)))
    anchor = "    earlier = []\n"
    assert anchor in originals[common], "announce_duplicates changed; move the pause"
    common.write_text(originals[common].replace(
        anchor, PAUSE_ANNOUNCE.format(marker=str(pause)) + anchor, 1))
    hold.write_text("trainings that finished hold their job while this exists\n")
    profile = fault_profile(workdir, "killed")
    # The scatter table is all this test compares: the attribution jobs and figures after the
    # trainings would only queue behind them on the one GPU.
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(profile),
           "results-tiny/tables/scatter.csv", *TINY]
    t0 = time.time()
    ids: list[str] = []
    killed_log = workdir / "killed.log"
    with open(killed_log, "w") as log_file:
        first = subprocess.Popen([*cmd, "--forcerun", "train"], cwd=workdir, env=env,
                                 stdout=log_file, stderr=subprocess.STDOUT)
    rerun = None
    try:
        def finished_runs():
            done = [run for run, events in lock_events(workdir, t0).items()
                    if any(e["event"] == "finished" for e in events)]
            return done if len(done) >= 2 else None

        finished = wait_for(finished_runs, 300, "two trainings to finish", first)
        first.kill()  # SIGKILL, as when the login session dies
        first.wait(timeout=60)
        ids += run_ids(killed_log.read_text())
        refused = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                                 timeout=300)
        out = refused.stdout + refused.stderr
        assert refused.returncode != 0 and "LockException" in out and "--unlock" in out, out[-2000:]
        unlock = subprocess.run([*cmd, "--unlock"], cwd=workdir, env=env, capture_output=True,
                                text=True, timeout=300)
        assert unlock.returncode == 0, unlock.stderr[-2000:]
        pause.write_text("the rerun waits before it announces its duplicates\n")
        rerun_log = workdir / "rerun-after-kill.log"
        t_rerun = time.monotonic()
        with open(rerun_log, "w") as log_file:
            rerun = subprocess.Popen(["timeout", "-s", "INT", "-k", "30", str(FAULT_BOUND_S),
                                      *cmd], cwd=workdir, env=env, stdout=log_file,
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: Path(f"{pause}.reached").exists(), 300, "the rerun's plan", rerun)
        # The finished trainings' jobs end now: their incomplete markers go with them.
        holders = {e["slurm_job_id"] for run in finished for e in lock_events(workdir, t0)[run]
                   if e["event"] == "finished"}
        hold.unlink()
        wait_for(lambda: all(r["State"] == "COMPLETED" for r in slurm_jobs_by_id(sorted(holders))),
                 120, "the finished trainings' jobs to end")
        pause.unlink()
        rerun.wait(timeout=FAULT_BOUND_S + 60)
        rerun_s = time.monotonic() - t_rerun
        log = rerun_log.read_text()
        ids += run_ids(log)
    finally:
        for process in (first, rerun):
            if process is not None and process.poll() is None:
                process.kill()
        hold.unlink(missing_ok=True)
        pause.unlink(missing_ok=True)
        for path, text in originals.items():
            path.write_text(text)
        subprocess.run(["scancel", "--name", ",".join(ids) or "none"], capture_output=True,
                       timeout=30)
    assert rerun.returncode == 0, f"exit {rerun.returncode} (124: bound hit); log:\n{log[-4000:]}"
    # The trainings' jobs (the attribution jobs that follow them hold no run lock).
    jobs = [j for j in slurm_jobs(ids) if j["Comment"].startswith("rule_train_")]
    events = lock_events(workdir, t0)
    runs: dict[str, list[dict[str, str]]] = {}
    for j in jobs:
        runs.setdefault(j["Comment"], []).append(j)
    assert set(runs) == set(events), (sorted(runs), sorted(events))
    duplicates = 0
    for run, run_jobs in runs.items():
        trainers = [e["slurm_job_id"] for e in events[run] if e["event"] == "took"]
        assert len(trainers) == 1, f"{run} trained by jobs {trainers}: {run_jobs}"
        assert not overlapping_trainers(run_jobs, trainers), run_jobs
        reused = {e["slurm_job_id"] for e in events[run] if e["event"] == "reused"}
        others = {j["JobID"] for j in run_jobs} - set(trainers)
        assert others <= reused, f"{run}: jobs {others - reused} did not reuse: {events[run]}"
        assert all(j["State"] == "COMPLETED" for j in run_jobs), run_jobs
        duplicates += len(others)
    assert all(len(runs[run]) == 2 for run in finished), (
        f"the runs that finished while the rerun planned got no duplicate: {runs}")
    assert duplicates == 4, f"every training was submitted again by the rerun: {jobs}"
    pd.testing.assert_frame_equal(pd.read_csv(table), reference, rtol=1e-5)
    # Counted from the training logs: each run's log holds one training (2 epochs, a score); a
    # duplicate's says it trained nothing, then carries the log of the job that trained.
    logs = workdir / "results-tiny" / "logs" / "train"
    for path in logs.rglob("*.log"):
        text = path.read_text()
        assert text.count("epoch   1/2") == 1 and text.count("scatter train") == 1, (
            f"{path}: not exactly one training:\n{text[-3000:]}")
        assert "nothing left to train\n----- the log of Slurm job " in text, text[:2000]
    print(f"{len(jobs)} Slurm jobs for {len(runs)} trainings ({duplicates} duplicates reused); "
          f"rerun {rerun_s:.0f} s")


def test_trainings_failing_alike_stop_the_run(slurm_run):
    """Every training fails as on nodes whose environment lacks the backend's GPU plugin (an
    ImportError; the Snakemake process's own environment is fine, so nothing foresees it): once
    three trainings have failed alike, the run says why and stops, instead of retrying each
    twice; nothing of it is left in the queue."""
    assert slurm_run["proc"].returncode == 0, "the plain Slurm run failed; see the first test"
    workdir = slurm_run["workdir"]
    broken = workdir / "broken-import.marker"
    break_trainings(workdir, broken)
    broken.write_text("while this file exists every training fails\n")
    profile = fault_profile(workdir, "broken")
    two_seeds = [*TINY[:-1], "seeds=2"]  # 8 trainings: the whole grid with retries is 24 jobs
    assert TINY[-1] == "seeds=1"
    t0 = time.monotonic()
    try:
        proc = subprocess.run(["timeout", "-s", "INT", "-k", "30", str(RUN_BOUND_S),
                               sys.executable, "-m", "snakemake", "--profile", str(profile),
                               *two_seeds, "--forcerun", "train"],
                              cwd=workdir, env=slurm_run["env"], capture_output=True, text=True,
                              timeout=RUN_BOUND_S + 60)
    finally:
        broken.unlink(missing_ok=True)
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    (workdir / "broken.log").write_text(log)
    ids = run_ids(log)
    try:
        assert proc.returncode != 0, log[-4000:]
        stops = re.findall(r"Stopping the run: (\d+) trainings failed with the same error", log)
        assert len(stops) == 1 and int(stops[0]) >= 3, log[-4000:]
        assert "ImportError: No module named 'jax_cuda12_plugin'" in log
        jobs = [j for j in slurm_jobs(ids) if j["Comment"].startswith("rule_train")]
        assert 3 <= len(jobs) < 24, jobs
        left = subprocess.run(["squeue", "-h", "--name", ",".join(ids) or "none"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
        assert not left, f"jobs of the stopped run are still queued or running:\n{left}"
        assert seconds < RUN_BOUND_S, seconds
        print(f"stopped after {len(jobs)} of 24 training jobs, {seconds:.0f} s")
    finally:
        subprocess.run(["scancel", "--name", ",".join(ids) or "none"], capture_output=True,
                       timeout=30)

def test_job_arrays_are_refused_before_any_submission(slurm_run):
    """snakemake-executor-plugin-slurm 2.8.0's job arrays, tried on this cluster, fail every task
    but the first (each checks the first job's outputs): asked for them, the run stops before
    any submission and says why (a later plugin is let through, checked for the other fault)."""
    from clusterage.cluster.slurm_arrays import plugin_version, refusal

    if refusal("train", plugin_version()) is None:
        pytest.skip(f"snakemake-executor-plugin-slurm {plugin_version()} is not known to break arrays")
    workdir = slurm_run["workdir"]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(workdir / "profile-ci-slurm"), *TINY,
         "--forcerun", "train", "--slurm-array-jobs", "train"],
        cwd=workdir, env=slurm_run["env"], capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    assert log.count("Slurm job arrays: slurm-array-jobs includes train, but") == 1, log[-3000:]
    assert "has been submitted" not in log, log[-3000:]
    assert not slurm_jobs(run_ids(log)), "a job was submitted"
