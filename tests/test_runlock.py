"""The run lock: a second job for a run waits for a live owner and takes over from a dead one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from clusterage.train.runlock import (
    HISTORY,
    LOCK_NAME,
    Owner,
    RunBusy,
    RunLock,
    _slurm_duration_s,
    expect_duplicate,
    owner_alive,
)

# A process that holds the run lock and writes the outputs after `hold` seconds, or exits without
# releasing it (as after kill -9).
HOLDER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from clusterage.train.runlock import RunLock
    folder, outputs, hold, how = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    lock = RunLock(folder, outputs, fingerprint="same work", heartbeat_s=0.2).acquire()
    print("holding", flush=True)
    time.sleep(hold)
    if how == "finish":
        for out in outputs:
            Path(out).write_text("done")
        lock.release(completed=True)
    elif how == "crash":
        import os
        os._exit(3)  # no release: as after kill -9
""")


def start_holder(folder: Path, outputs: list[Path], hold: float, how: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), json.dumps([str(o) for o in outputs]),
         str(hold), how], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def no_slurm(job_id):
    return None


def test_second_job_waits_for_a_live_owner_and_trains_nothing(tmp_path):
    folder, outputs = tmp_path / "ckpt", [tmp_path / "run" / "metrics.json", tmp_path / "model"]
    outputs[0].parent.mkdir()
    holder = start_holder(folder, outputs, hold=1.5, how="finish")
    t0 = time.monotonic()
    with RunLock(folder, outputs, fingerprint="same work", poll_s=0.1, state_of=no_slurm) as lock:
        waited = time.monotonic() - t0
        assert lock.finished_by is not None and lock.finished_by.pid == holder.pid
    assert holder.wait(10) == 0
    assert waited > 1.0, "did not wait for the owner"
    assert all(o.read_text() == "done" for o in outputs)
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == holder.pid, (
        "the waiting job must leave the owner's record as it is")
    history = [json.loads(line) for line in (folder / HISTORY).read_text().splitlines()]
    assert [(e["event"], e["pid"]) for e in history] == [
        ("took", holder.pid), ("waiting", os.getpid()), ("finished", holder.pid),
        ("reused", os.getpid())]


def test_dead_owner_is_taken_over_at_once(tmp_path):
    folder = tmp_path / "ckpt"
    holder = start_holder(folder, [tmp_path / "out"], hold=0, how="crash")
    assert holder.wait(10) == 3
    stale = Owner(**json.loads((folder / LOCK_NAME).read_text()))
    t0 = time.monotonic()
    with RunLock(folder, [tmp_path / "out"], poll_s=5, state_of=no_slurm) as lock:
        assert time.monotonic() - t0 < 2, "waited for a dead process"
        assert lock.finished_by is None
        mine = Owner(**json.loads((folder / LOCK_NAME).read_text()))
        assert mine.pid == os.getpid() and mine.token != stale.token
    assert not (folder / LOCK_NAME).exists(), "released on exit"


def test_released_on_error_so_a_retry_starts_at_once(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with RunLock(tmp_path, [tmp_path / "out"]):
            1 / 0
    assert not (tmp_path / LOCK_NAME).exists()


def record(folder: Path, **fields) -> Owner:
    owner = Owner(**{**dict(token="t0", host="elsewhere", pid=12345, pid_start=None,
                            slurm_job_id=None, since="earlier"), **fields})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps(owner.__dict__))
    return owner


@pytest.mark.parametrize("state, alive", [
    ("RUNNING", True), ("PENDING", True), ("SUSPENDED", True), ("COMPLETING", True),
    ("REQUEUED", True), ("CANCELLED by 0", False), ("FAILED", False), ("TIMEOUT", False),
    ("NODE_FAIL", False), ("PREEMPTED", False), ("COMPLETED", False), ("GONE", False),
])
def test_owner_alive_follows_the_slurm_state_of_its_job(state, alive):
    me = Owner.me()
    other = Owner("t", "elsewhere", 1, None, "4711", "earlier")
    assert owner_alive(other, me, lambda job: state if job == "4711" else None) is alive


def test_own_earlier_incarnation_is_not_waited_for(monkeypatch):
    """A requeued Slurm job keeps its id: its old record is our own, not a live owner."""
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    me = Owner.me()
    old = Owner("t", "node7", 999, None, "4711", "earlier")
    assert owner_alive(old, me, lambda job: "RUNNING") is False


def test_live_slurm_owner_is_waited_for_until_the_deadline(tmp_path):
    owner = record(tmp_path, slurm_job_id="4711")
    t0 = time.time()
    with pytest.raises(RunBusy, match="Slurm job 4711"):
        RunLock(tmp_path, [tmp_path / "out"], poll_s=0.1, deadline=t0 + 0.5,
                state_of=lambda job: "RUNNING").acquire()
    assert 0.3 < time.time() - t0 < 3
    assert json.loads((tmp_path / LOCK_NAME).read_text())["token"] == owner.token


def test_cancelled_slurm_owner_is_taken_over(tmp_path):
    record(tmp_path, slurm_job_id="4711")
    with RunLock(tmp_path, [tmp_path / "out"], poll_s=5,
                 state_of=lambda job: "CANCELLED by 0") as lock:
        assert lock.finished_by is None
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_unknown_owner_is_judged_by_its_heartbeat(tmp_path):
    """Another host and no answer from Slurm: alive while the record's mtime moves."""
    record(tmp_path)
    lock_file = tmp_path / LOCK_NAME
    stop = threading.Event()

    def beat():
        while not stop.wait(0.1):
            os.utime(lock_file)

    beating = threading.Thread(target=beat)
    beating.start()
    try:
        with pytest.raises(RunBusy):
            RunLock(tmp_path, [tmp_path / "out"], poll_s=0.1, stale_s=0.6,
                    deadline=time.time() + 1.5, state_of=no_slurm).acquire()
    finally:
        stop.set()
        beating.join()
    # Heartbeat stopped: taken over once it is older than stale_s.
    t0 = time.monotonic()
    with RunLock(tmp_path, [tmp_path / "out"], poll_s=0.1, stale_s=0.6, state_of=no_slurm) as lock:
        assert lock.finished_by is None
    assert 0.5 < time.monotonic() - t0 < 5


def test_only_one_of_many_contenders_takes_a_dead_owners_run(tmp_path):
    record(tmp_path, slurm_job_id="4711")
    script = textwrap.dedent("""
        import sys, time
        from clusterage.train.runlock import RunLock
        lock = RunLock(sys.argv[1], [], poll_s=0.05, deadline=time.time() + 3,
                       state_of=lambda job: "FAILED" if job == "4711" else "RUNNING")
        try:
            lock.acquire()
        except Exception:
            print("waited", flush=True)
        else:
            print("owner", flush=True)
            time.sleep(4)
            lock.release()
    """)
    env = dict(os.environ, SLURM_JOB_ID="")
    procs = []
    for i in range(4):
        procs.append(subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                                      stdout=subprocess.PIPE, text=True,
                                      env=dict(env, SLURM_JOB_ID=str(5000 + i))))
    results = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert results == ["owner", "waited", "waited", "waited"], results


def test_slurm_time_left_is_parsed():
    assert _slurm_duration_s("1-02:03:04") == 86400 + 7384
    assert _slurm_duration_s("14:59") == 899
    assert _slurm_duration_s("UNLIMITED") is None and _slurm_duration_s("") is None


DUPLICATE = "1000.5"  # CLUSTERAGE_PLANNED_AT of a rerun's Snakemake process, long before


def finished_run(tmp_path: Path, outputs: list[Path], announced: bool = True) -> Owner:
    """A run trained to the end by a job that is gone now; ``announced``: a rerun expects to run
    it again (as the workflow announces before it submits such a duplicate)."""
    if announced:
        expect_duplicate(tmp_path / "lock", DUPLICATE)
    log_file = tmp_path / "train.log"
    log_file.write_text("epoch 1/1 loss 0.1\n")
    lock = RunLock(tmp_path / "lock", outputs, fingerprint="same work", log_file=log_file,
                   state_of=no_slurm)
    with lock:
        for out in outputs:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(f"trained {out.name}")
    return Owner(**json.loads((tmp_path / "lock" / LOCK_NAME).read_text()))


def test_announced_duplicate_reuses_the_outputs_then_nothing_extra_is_kept(tmp_path,
                                                                          monkeypatch):
    outputs = [tmp_path / "run" / "metrics.json", tmp_path / "run" / "model.keras"]
    owner = finished_run(tmp_path, outputs)
    assert owner.finished is not None
    inode = outputs[1].stat().st_ino
    for out in [*outputs, tmp_path / "train.log"]:  # as Snakemake does before it runs a job
        out.unlink()
    (tmp_path / "train.log").write_text("duplicate job\n")
    monkeypatch.setenv("CLUSTERAGE_PLANNED_AT", DUPLICATE)  # planned while the owner trained
    with RunLock(tmp_path / "lock", outputs, fingerprint="same work",
                 log_file=tmp_path / "train.log", state_of=no_slurm) as lock:
        assert lock.finished_by == owner
    assert [o.read_text() for o in outputs] == ["trained metrics.json", "trained model.keras"]
    assert outputs[1].stat().st_ino == inode, "linked back, not copied"
    log_text = (tmp_path / "train.log").read_text()
    assert log_text.startswith("duplicate job\n----- the log of host ") and "epoch 1/1" in log_text
    assert all(o.stat().st_nlink == 1 for o in outputs), "links kept after the duplicate"
    assert not (tmp_path / "lock" / "final").exists()
    assert not list((tmp_path / "lock" / "expected").iterdir())


def test_without_an_announced_duplicate_nothing_is_kept(tmp_path, monkeypatch):
    """A run without a crash: no extra link holds a temporary output's bytes."""
    outputs = [tmp_path / "run" / "metrics.json"]
    finished_run(tmp_path, outputs, announced=False)
    assert outputs[0].stat().st_nlink == 1 and not (tmp_path / "lock" / "final").exists()
    outputs[0].unlink()
    monkeypatch.setenv("CLUSTERAGE_PLANNED_AT", DUPLICATE)
    with RunLock(tmp_path / "lock", outputs, fingerprint="same work", state_of=no_slurm) as lock:
        assert lock.finished_by is None, "nothing to reuse: trains"


@pytest.mark.parametrize("case", ["planned after it finished", "other work"])
def test_a_deliberate_rerun_trains_again(tmp_path, monkeypatch, case):
    outputs = [tmp_path / "run" / "metrics.json"]
    owner = finished_run(tmp_path, outputs)
    outputs[0].unlink()
    work = "other work" if case == "other work" else "same work"
    if case == "other work":
        monkeypatch.setenv("CLUSTERAGE_PLANNED_AT", DUPLICATE)  # planned early, other parameters
    with RunLock(tmp_path / "lock", outputs, fingerprint=work, state_of=no_slurm) as lock:
        assert lock.finished_by is None, "must train"
        assert not outputs[0].exists()
        outputs[0].write_text("trained again")
    again = Owner(**json.loads((tmp_path / "lock" / LOCK_NAME).read_text()))
    assert again.token != owner.token and again.finished and again.fingerprint == work


def test_fingerprint_tells_inputs_and_parameters_apart(tmp_path):
    from clusterage.train.runlock import file_identity, fingerprint
    data = tmp_path / "d.h5"
    data.write_text("a")
    first = fingerprint({"lr": 1e-3}, file_identity(data))
    assert first == fingerprint({"lr": 1e-3}, file_identity(data))
    assert first != fingerprint({"lr": 2e-3}, file_identity(data))
    os.utime(data, ns=(1, 1))
    assert first != fingerprint({"lr": 1e-3}, file_identity(data))


def test_a_duplicate_logs_that_it_reused_and_the_owners_log_whole(tmp_path):
    """The job's stderr goes to its log (clusterage.logs); the owner's log follows, intact."""
    outputs = [tmp_path / "run" / "metrics.json"]
    owner = finished_run(tmp_path, outputs)
    outputs[0].unlink()
    script = textwrap.dedent("""
        import logging, sys
        from clusterage.logs import to_file
        from clusterage.train.runlock import RunLock
        to_file(sys.argv[1])
        logging.getLogger("job").info("the duplicate starts")
        with RunLock(sys.argv[2], [sys.argv[3]], fingerprint="same work",
                     log_file=sys.argv[1]) as lock:
            assert lock.finished_by is not None
        logging.getLogger("job").info("the duplicate ends")
    """)
    log = tmp_path / "dup.log"
    subprocess.run([sys.executable, "-c", script, str(log), str(tmp_path / "lock"),
                    str(outputs[0])], check=True, timeout=60,
                   env=dict(os.environ, CLUSTERAGE_PLANNED_AT=DUPLICATE))
    lines = log.read_text().splitlines()
    assert "the duplicate starts" in lines[0]
    assert "completed by host" in lines[1] and "nothing left to train" in lines[1]
    assert lines[2] == f"----- the log of {owner.describe()} -----"
    assert lines[3] == "epoch 1/1 loss 0.1" and "the duplicate ends" in lines[4]


def test_unfinished_owner_names_a_held_or_abandoned_run_only(tmp_path):
    from clusterage.train.runlock import unfinished_owner
    assert unfinished_owner(tmp_path / "none") is None
    holder = start_holder(tmp_path / "crashed", [tmp_path / "out"], hold=0, how="crash")
    assert holder.wait(10) == 3
    assert unfinished_owner(tmp_path / "crashed").pid == holder.pid
    finished_run(tmp_path, [tmp_path / "run" / "metrics.json"], announced=False)
    assert unfinished_owner(tmp_path / "lock") is None


def test_announce_rerun_covers_queued_started_and_just_finished_runs(tmp_path, monkeypatch):
    """What the workflow does before it submits a training again after a crash."""
    from clusterage.train.runlock import EXPECTED, announce_rerun
    outputs = [tmp_path / "run" / "metrics.json"]
    planned = str(time.time())
    assert announce_rerun(tmp_path / "fresh", outputs, None, planned) is None
    assert not (tmp_path / "fresh").exists(), "a plain run leaves no trace"
    assert announce_rerun(tmp_path / "queued", outputs, None, planned, queued=["4711"]) == "4711"
    assert (tmp_path / "queued" / EXPECTED / planned).exists()
    holder = start_holder(tmp_path / "started", outputs, hold=0, how="crash")
    holder.wait(10)
    assert announce_rerun(tmp_path / "started", outputs, None, planned) == f"pid {holder.pid}"
    # Finished before this process planned: a deliberate rerun, nothing announced.
    finished_run(tmp_path, outputs, announced=False)
    assert announce_rerun(tmp_path / "lock", outputs, None, str(time.time())) is None
    assert not (tmp_path / "lock" / EXPECTED).exists()
    # Finished while it planned: its outputs are linked for the duplicate, which reuses them.
    owner = announce_rerun(tmp_path / "lock", outputs, tmp_path / "train.log", DUPLICATE)
    assert owner == f"pid {os.getpid()}"
    outputs[0].unlink()
    monkeypatch.setenv("CLUSTERAGE_PLANNED_AT", DUPLICATE)
    with RunLock(tmp_path / "lock", outputs, fingerprint="same work", state_of=no_slurm) as lock:
        assert lock.finished_by is not None
    assert outputs[0].read_text() == "trained metrics.json"
    assert not (tmp_path / "lock" / "final").exists()


def test_job_that_ends_between_the_reruns_start_and_its_announcement_is_reused(tmp_path,
                                                                             monkeypatch):
    """The documented recovery's worst order: the dead controller's job finishes after the rerun
    started (before its CLUSTERAGE_PLANNED_AT was even set) and Snakemake's incomplete marker
    goes with it before the rerun announces; the rerun still planned the training as incomplete.
    The announcement keeps the outputs and the duplicate reuses them; without that knowledge it
    would train again."""
    from clusterage.train.runlock import announce_rerun
    outputs = [tmp_path / "run" / "metrics.json"]
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    owner = finished_run(tmp_path, outputs, announced=False)
    monkeypatch.delenv("SLURM_JOB_ID")
    planned = str(time.time() + 1)  # the rerun's planning clock starts after the job finished
    # Control: nothing says the earlier job ended while planning: a deliberate rerun.
    assert announce_rerun(tmp_path / "lock", outputs, None, planned) is None
    assert announce_rerun(tmp_path / "lock", outputs, tmp_path / "train.log", planned,
                          ended_while_planning=True) == "4711"
    assert duplicate_runs(tmp_path, outputs, planned, monkeypatch) == owner, "trained twice"


def duplicate_runs(tmp_path: Path, outputs: list[Path], planned: str, monkeypatch) -> Owner | None:
    """The rerun's job for the run, planned at ``planned``, after Snakemake deleted the outputs
    and the log: the owner whose outputs it reused (their content and log checked), or None."""
    for out in [*outputs, tmp_path / "train.log"]:  # as Snakemake does before it runs a job
        out.unlink()
    monkeypatch.setenv("CLUSTERAGE_PLANNED_AT", planned)
    with RunLock(tmp_path / "lock", outputs, fingerprint="same work",
                 log_file=tmp_path / "train.log", state_of=no_slurm) as lock:
        if lock.finished_by is None:
            return None
    assert outputs[0].read_text() == "trained metrics.json"
    assert "epoch 1/1" in (tmp_path / "train.log").read_text()
    return lock.finished_by


def test_earlier_process_job_that_finished_before_the_rerun_planned_is_reused(tmp_path,
                                                                              monkeypatch):
    """The controller dies; its Slurm job finishes; only then does the rerun plan. Snakemake
    still takes the outputs for incomplete (the dead process never saw the job end) and submits
    the training again: that job reuses the finished outputs instead of training twice. A job
    of another process (not among the earlier process's jobs) is a deliberate rerun."""
    from clusterage.train.runlock import announce_rerun
    outputs = [tmp_path / "run" / "metrics.json"]
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    owner = finished_run(tmp_path, outputs, announced=False)
    monkeypatch.delenv("SLURM_JOB_ID")
    planned = str(time.time() + 1)  # the rerun plans after the job finished
    assert announce_rerun(tmp_path / "lock", outputs, None, planned, queued=["4712"]) == "4712"
    assert not (tmp_path / "lock" / "final").exists(), "not the earlier process's job: no reuse"
    assert announce_rerun(tmp_path / "lock", outputs, tmp_path / "train.log", planned,
                          queued=["4711"]) == "4711"
    assert duplicate_runs(tmp_path, outputs, planned, monkeypatch) == owner, "trained again"
    assert not (tmp_path / "lock" / "final").exists()
    # A later deliberate rerun (--forcerun, nothing announced) trains again.
    outputs[0].unlink()
    monkeypatch.setenv("CLUSTERAGE_PLANNED_AT", str(time.time() + 2))
    with RunLock(tmp_path / "lock", outputs, fingerprint="same work", state_of=no_slurm) as lock:
        assert lock.finished_by is None
        outputs[0].write_text("trained again")
