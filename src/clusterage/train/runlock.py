"""One job at a time trains a run; a duplicate job reuses what the first one trained.

Duplicates arise on a cluster when the Snakemake process that submits the jobs dies (a closed
login session) while its Slurm jobs go on: the rerun submits every training whose outputs are
not there yet, including the ones still queued or running. The training job therefore holds a
lock folder beside the run's checkpoint folder (``<checkpoint>.run/``):

- ``owner.json``: the job that trains the run: host, process id (with the process's start time,
  against reused ids), Slurm job id, a fingerprint of what it trains (parameters, dataset) and,
  once it has finished, when;
- ``expected/``: one file per Snakemake process that is about to run the training again
  although an earlier one had submitted it and never saw it end (:func:`expect_duplicate`),
  holding the token of the owner whose finished outputs it reuses, where that is known already;
- ``final/``: only while such a duplicate is expected: hard links to the finished outputs and to
  the owner's log (no bytes copied; the links go once the duplicate has used them);
- ``history.jsonl``: one line per event (``took``, ``waiting``, ``reused``, ``finished``,
  ``released``) with the time, the job's Slurm id, host and pid: who trained the run, and which
  duplicates waited for it or reused its outputs.

A job that finds the record of another owner asks whether that owner is still alive:

1. the record names a Slurm job: ``squeue -j <id>`` (then ``sacct -j <id>``) says whether the
   job is pending, running or suspended; any other state, or a job Slurm does not know, is gone;
2. else, on the owner's host: whether its process still exists;
3. else (no answer from Slurm, another host): its heartbeat, the record's modification time,
   which the owner touches every ``HEARTBEAT_S`` seconds; unchanged for ``STALE_S`` seconds by
   the waiting job's own clock (so clock skew between hosts does not matter) is gone.

While the owner is alive the job waits (polling every ``POLL_S`` seconds, and giving up shortly
before its own Slurm time limit). When the owner has finished the same work (same fingerprint)
and this job was planned before it finished, or its announcement names that owner (the job an
earlier Snakemake process submitted, which finished after that process died: Snakemake still
takes its outputs for incomplete), this job is a duplicate: it links the owner's
outputs back into place (Snakemake deletes a job's outputs before running it) and trains
nothing; its log gets the owner's log appended. "Planned" is when the Snakemake process that
submitted the job started (``CLUSTERAGE_PLANNED_AT``, which the workflow sets there and jobs
inherit), else the Slurm submit time. Otherwise (the owner is gone, or this is a deliberate
rerun such as ``--forcerun``) it takes the run over; training resumes from the last saved epoch.
The outputs are kept in ``final/`` only where a duplicate was announced (``expected/``), so a
run without a crash keeps nothing beyond what Snakemake keeps (temporary outputs are freed).

Why not ``flock``/``fcntl`` locks, which the kernel releases when the process dies: on Lustre
they are refused or, with the common ``localflock`` mount option, exclusive on one node only,
silently; on NFS they depend on the lock daemon and lease recovery. The record is put in place
with ``link()``, atomic on NFS and Lustre too, and every liveness test above works on any shared
file system.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

LOCK_NAME = "owner.json"
FINAL = "final"
EXPECTED = "expected"
HISTORY = "history.jsonl"
POLL_S = 10.0
HEARTBEAT_S = 30.0
STALE_S = 300.0
# Slurm job states in which the job's processes may still run (or run again, once requeued).
ALIVE_STATES = frozenset({
    "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "STOPPED", "RESIZING",
    "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT",
    "RESV_DEL_HOLD",
})

StateOf = Callable[[str], "str | None"]
# time.time() at which the Snakemake process that runs or submits the job started.
PLANNED_AT = "CLUSTERAGE_PLANNED_AT"


class RunBusy(RuntimeError):
    """The run is still owned by a live job when this job has to stop waiting."""


def fingerprint(*parts) -> str:
    """A short hash of what a job computes (parameters, input identity), JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_identity(path: str | os.PathLike) -> dict:
    """Size and modification time: a rebuilt input file is another input."""
    st = os.stat(path)
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass(frozen=True)
class Owner:
    token: str
    host: str
    pid: int
    pid_start: str | None
    slurm_job_id: str | None
    since: str
    fingerprint: str | None = None
    finished: float | None = None  # time.time() when its outputs were complete

    @classmethod
    def me(cls, fingerprint: str | None = None) -> "Owner":
        return cls(token=secrets.token_hex(8), host=socket.gethostname(), pid=os.getpid(),
                   pid_start=_process_start(os.getpid()),
                   slurm_job_id=os.environ.get("SLURM_JOB_ID") or None,
                   since=time.strftime("%Y-%m-%d %H:%M:%S"), fingerprint=fingerprint)

    def describe(self) -> str:
        job = f"Slurm job {self.slurm_job_id}, " if self.slurm_job_id else ""
        return f"{job}host {self.host}, pid {self.pid}, since {self.since}"


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def slurm_state(job_id: str, run=subprocess.run) -> str | None:
    """The job's state by squeue, else sacct; "GONE" if Slurm does not know it; None if no answer."""
    try:
        proc = run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True,
                   timeout=30)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.split()[0]
        if proc.returncode == 0 or "Invalid job id" in proc.stderr:
            # No longer in the controller's memory: the accounting knows how it ended.
            acct = run(["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "State"],
                       capture_output=True, text=True, timeout=30)
            lines = acct.stdout.split("\n") if acct.returncode == 0 else []
            states = [line for line in lines if line.strip()]
            return states[-1] if states else "GONE"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return None


def owner_alive(owner: Owner, me: Owner, state_of: StateOf = slurm_state) -> bool | None:
    """True or False where Slurm or the process table can tell; None where neither can."""
    if owner.slurm_job_id:
        if owner.slurm_job_id == me.slurm_job_id:
            # Slurm runs one instance of a job at a time: this is our own earlier run (requeued).
            return False
        state = state_of(owner.slurm_job_id)
        if state is not None:
            return state.split()[0] in ALIVE_STATES
    if owner.host == me.host:
        if owner.pid == me.pid:
            return False
        try:
            os.kill(owner.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        start = _process_start(owner.pid)
        return start is None or owner.pid_start is None or start == owner.pid_start
    return None


def slurm_job_times(run=subprocess.run) -> tuple[float | None, float | None]:
    """(submitted, deadline) of this Slurm job as time.time() values; None outside Slurm.

    The deadline is the job's end by its time limit; None when unlimited or unknown.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None, None
    try:
        proc = run(["squeue", "-h", "-j", job, "-o", "%V|%L"], capture_output=True, text=True,
                   timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    if proc.returncode != 0 or "|" not in proc.stdout:
        return None, None
    submit, left = proc.stdout.strip().split("|", 1)
    try:
        submitted = time.mktime(time.strptime(submit, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        submitted = None
    left_s = _slurm_duration_s(left)
    return submitted, None if left_s is None else time.time() + left_s


def _slurm_duration_s(text: str) -> float | None:
    """Slurm's [D-][HH:]MM:SS as seconds; None for UNLIMITED, NOT_SET or anything else."""
    days, _, hms = text.rpartition("-")
    parts = hms.split(":")
    if not text or not all(p.isdigit() for p in parts) or len(parts) > 3 or (
            days and not days.isdigit()):
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + int(p)
    return int(days or 0) * 86400 + seconds


def expect_duplicate(folder: str | os.PathLike, planned: str, finished_by: str = "") -> None:
    """Announce that the Snakemake process ``planned`` (its CLUSTERAGE_PLANNED_AT) will run this
    training again although an earlier process submitted it and never saw it end: whoever
    finishes the run keeps its outputs in ``final/`` for that duplicate. ``finished_by``: the
    token of an owner that has already finished the run for the earlier process, whose outputs
    the duplicate reuses although they were finished before it was planned."""
    expected = Path(folder) / EXPECTED
    expected.mkdir(parents=True, exist_ok=True)
    (expected / planned).write_text(finished_by)


def _read_owner(folder: Path) -> Owner | None:
    try:
        return Owner(**json.loads((folder / LOCK_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def unfinished_owner(folder: str | os.PathLike) -> Owner | None:
    """The job that holds (or held, until it died) this run and has not finished it, if any."""
    owner = _read_owner(Path(folder))
    return owner if owner is not None and owner.finished is None else None


def announce_rerun(folder: str | os.PathLike, outputs: Iterable[str | os.PathLike],
                   log_file: str | os.PathLike | None, planned: str,
                   queued: Iterable[str] = (), ended_while_planning: bool = False) -> str | None:
    """Called by a Snakemake process (``planned``: its CLUSTERAGE_PLANNED_AT) before it submits
    this training; ``queued``: the jobs an earlier process submitted for it and never saw end;
    ``ended_while_planning``: Snakemake took the outputs for incomplete when it planned (an
    earlier process's job) and no longer does, so that job ended since, whenever this process
    started. Returns the earlier job it duplicates, if any, having made sure that job's outputs
    will be there for the duplicate: announced to a job that has not finished yet, or, for one
    that finished while this process was planning, linked into final/ now."""
    folder, queued = Path(folder), list(queued)
    owner = _read_owner(folder)
    finished_by = ""
    if owner is not None and owner.finished is not None and (
            owner.finished >= float(planned) or owner.slurm_job_id in queued
            or ended_while_planning):
        # It finished while this process was planning, which saw no outputs yet; or it is the
        # earlier process's own job, which finished after that process died, so Snakemake
        # still takes its outputs for incomplete.
        if not (outputs_complete(outputs) and _link_final(folder, [Path(o) for o in outputs],
                                                          log_file)):
            return None
        finished_by = owner.token
    elif not queued and (owner is None or owner.finished is not None):
        return None  # nothing of an earlier process is pending: a plain (or deliberate) run
    expect_duplicate(folder, planned, finished_by)
    if finished_by:
        return owner.slurm_job_id or f"pid {owner.pid}"
    if queued:
        return queued[0]
    return owner.slurm_job_id or f"pid {owner.pid}"


def _clear_final(folder: Path) -> None:
    final = folder / FINAL
    if final.is_dir():
        for old in final.iterdir():
            old.unlink()
        final.rmdir()


def _link_final(folder: Path, outputs: list[Path], log_file: str | os.PathLike | None,
                move_log: bool = False) -> bool:
    """Hard-link the outputs (and the log) into final/; no copy: where links fail, keep nothing."""
    _clear_final(folder)
    final = folder / FINAL
    final.mkdir(parents=True)
    try:
        for i, out in enumerate(outputs):
            os.link(out, final / f"{i}-{out.name}")
        if log_file is not None and Path(log_file).exists():
            (os.replace if move_log else os.link)(log_file, final / "log")
    except OSError as exc:
        log.info("outputs not kept for duplicate jobs (%s)", exc)
        _clear_final(folder)
        return False
    return True


def outputs_complete(outputs: Iterable[str | os.PathLike]) -> bool:
    outputs = [Path(p) for p in outputs]
    return bool(outputs) and all(p.is_file() for p in outputs)


class RunLock:
    """Hold a run's lock folder; see the module's description.

    ``with RunLock(folder, outputs, fingerprint=...) as lock:`` returns when this process owns the
    run (``lock.finished_by`` is None: train it, and the outputs are kept in ``final/`` on a clean
    exit) or when the outputs are in place from an owner that did the same work
    (``lock.finished_by`` is that owner: nothing left to do).

    ``planned``: when this job was planned (time.time()); a finished owner's outputs are reused
    only by a job planned before they were finished; default: ``$CLUSTERAGE_PLANNED_AT``, else
    this Slurm job's submit time, else now. ``deadline``: when to stop waiting for a live owner
    (RunBusy); default: shortly before this Slurm job's time limit, else never.
    """

    def __init__(self, folder: str | os.PathLike, outputs: Iterable[str | os.PathLike] = (), *,
                 fingerprint: str | None = None, log_file: str | os.PathLike | None = None,
                 poll_s: float = POLL_S,
                 heartbeat_s: float = HEARTBEAT_S, stale_s: float = STALE_S,
                 planned: float | None = None, deadline: float | None = None,
                 state_of: StateOf = slurm_state, deadline_margin_s: float = 120.0):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.outputs = [Path(p) for p in outputs]
        self.log_file = Path(log_file) if log_file else None
        self.poll_s, self.heartbeat_s, self.stale_s = poll_s, heartbeat_s, stale_s
        self.planned_by = os.environ.get(PLANNED_AT)  # the name of our process's announcement
        if planned is None and self.planned_by:
            planned = float(self.planned_by)
        if planned is None or deadline is None:
            slurm_submitted, slurm_end = slurm_job_times()
            planned = planned if planned is not None else slurm_submitted
            if deadline is None and slurm_end is not None:
                deadline = slurm_end - deadline_margin_s
        self.planned = planned if planned is not None else time.time()
        self.deadline = deadline
        self.state_of = state_of
        self.me = Owner.me(fingerprint)
        # Our log, linked while we own the run: Snakemake deletes a job's log before it runs
        # the job, so a duplicate starting beside us would otherwise take our log's name away.
        self._log_link = self.folder / f".log-{self.me.token}"
        self.finished_by: Owner | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # --- the record -----------------------------------------------------------------------------
    def _read(self, path: Path | None = None) -> Owner | None:
        try:
            return Owner(**json.loads((path or self.path).read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            # Not a record this module wrote whole (records are linked into place complete).
            return Owner(token="unreadable", host="", pid=-1, pid_start=None, slurm_job_id=None,
                         since="?")

    def _write_new(self, owner: Owner) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{LOCK_NAME}.{secrets.token_hex(6)}"
        tmp.write_text(json.dumps(asdict(owner)))
        return tmp

    def _create(self) -> bool:
        """Put our record in place if there is none: link() is atomic, also on NFS."""
        tmp = self._write_new(self.me)
        try:
            os.link(tmp, self.path)
        except OSError:  # exists; or NFS reporting an error for a link it made: read it back
            pass
        finally:
            ours = self._owns()
            tmp.unlink(missing_ok=True)
        return ours

    def _owns(self) -> bool:
        rec = self._read()
        return rec is not None and rec.token == self.me.token

    def _event(self, event: str, **extra) -> None:
        """Append one line to history.jsonl (small appends; a lost line loses no result)."""
        line = {"time": round(time.time(), 3), "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                "event": event, "slurm_job_id": self.me.slurm_job_id, "host": self.me.host,
                "pid": self.me.pid, "token": self.me.token, **extra}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / HISTORY, "a") as fh:
                fh.write(json.dumps(line) + "\n")
        except OSError as exc:
            log.info("run history not written: %s", exc)

    def _take_over(self, previous: Owner) -> bool:
        """Remove exactly the previous owner's record (not one that replaced it), then create."""
        aside = self.folder / f".{LOCK_NAME}.stale-{self.me.token}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return self._create()
        moved = self._read(aside)
        if moved is not None and moved.token != previous.token:
            try:  # another job took it over meanwhile: give it back
                os.link(aside, self.path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return self._create()

    # --- reuse of a finished owner's outputs ------------------------------------------------------
    def _reusable(self, owner: Owner) -> bool:
        return (owner.finished is not None and owner.fingerprint is not None
                and owner.fingerprint == self.me.fingerprint
                and (self.planned < owner.finished or self._announced_reuse() == owner.token))

    def _announced_reuse(self) -> str | None:
        """The finished owner whose outputs this job's own announcement asks it to reuse."""
        if not self.planned_by:
            return None
        try:
            return (self.folder / EXPECTED / self.planned_by).read_text().strip() or None
        except OSError:
            return None

    def _restore(self, owner: Owner) -> bool:
        """Link the finished owner's outputs into place; False if any is missing."""
        final = self.folder / FINAL
        sources = [final / f"{i}-{out.name}" for i, out in enumerate(self.outputs)]
        if not all(s.is_file() for s in sources):
            return outputs_complete(self.outputs)
        for src, out in zip(sources, self.outputs):
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".part-{os.getpid()}-{out.name}")
            tmp.unlink(missing_ok=True)
            os.link(src, tmp)
            os.replace(tmp, out)
        return True

    def _expected(self) -> list[Path]:
        """Announcements of duplicates other than this job itself."""
        expected = self.folder / EXPECTED
        if not expected.is_dir():
            return []
        return [p for p in expected.iterdir() if p.name != self.planned_by]

    def _used_up(self) -> None:
        """This job's own announcement is answered; the links go when no duplicate is left."""
        if self.planned_by:
            (self.folder / EXPECTED / self.planned_by).unlink(missing_ok=True)
        if not self._expected():
            _clear_final(self.folder)

    def _keep_outputs(self) -> bool:
        return _link_final(self.folder, self.outputs, self._log_link, move_log=True)

    # --- acquire / release ------------------------------------------------------------------------
    def acquire(self) -> "RunLock":
        announced: str | None = None
        previous: Owner | None = None
        beat_seen: tuple[float, float] | None = None  # (record mtime, when we saw it change)
        while True:
            owner = self._read()
            if owner is None:
                if announced is not None and outputs_complete(self.outputs):
                    return self._done(None)
                if self._create():
                    break
                continue
            if owner.finished is not None:
                if self._reusable(owner) and self._restore(owner):
                    return self._done(owner)
                if self._take_over(owner):
                    previous = owner
                    break
                continue
            alive = owner_alive(owner, self.me, self.state_of)
            if alive is None:
                try:
                    mtime = self.path.stat().st_mtime
                except FileNotFoundError:
                    continue
                now = time.monotonic()
                if beat_seen is None or beat_seen[0] != mtime:
                    beat_seen = (mtime, now)
                alive = now - beat_seen[1] < self.stale_s
            if not alive:
                log.warning("the run's previous owner (%s) is gone: taking the run over "
                            "(training resumes from its last saved epoch, if any)",
                            owner.describe())
                if self._take_over(owner):
                    previous = owner
                    break
                continue
            if announced != owner.token:
                log.warning("this run is being trained by %s: waiting for it instead of training "
                            "it twice (checking every %.0f s)", owner.describe(), self.poll_s)
                self._event("waiting", owner=asdict(owner))
                announced = owner.token
            if self.deadline is not None and time.time() + self.poll_s > self.deadline:
                raise RunBusy(f"{self.folder}: still being trained by {owner.describe()}; this "
                              "job stops before its own time limit")
            time.sleep(self.poll_s)
        log.info("run lock %s taken (%s)", self.path, self.me.describe())
        if self.log_file is not None:
            try:
                os.link(self.log_file, self._log_link)
            except OSError:
                pass
        self._event("took", previous=asdict(previous) if previous else None)
        self._beat = threading.Thread(target=self._heartbeat, name="runlock-heartbeat",
                                      daemon=True)
        self._beat.start()
        return self

    def _done(self, owner: Owner | None) -> "RunLock":
        self.finished_by = owner or self.me
        who = owner.describe() if owner else "the owner this job waited for"
        log.warning("the outputs of this run were completed by %s: nothing left to train", who)
        self._event("reused", owner=asdict(owner) if owner else None)
        kept_log = self.folder / FINAL / "log"
        if owner and self.log_file and kept_log.is_file():
            with open(self.log_file, "a") as fh:
                fh.write(f"----- the log of {owner.describe()} -----\n{kept_log.read_text()}")
        self._used_up()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if self._owns():
                    os.utime(self.path)
                else:
                    log.warning("run lock %s is no longer ours", self.path)
                    return
            except OSError:
                pass

    def release(self, completed: bool) -> None:
        """Give the run up; ``completed``: the outputs are whole (kept for duplicate jobs)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        if self.finished_by is not None or not self._owns():
            self._log_link.unlink(missing_ok=True)
            return
        if completed and outputs_complete(self.outputs):
            kept = bool(self._expected()) and self._keep_outputs()
            if not kept:
                _clear_final(self.folder)
            if self.planned_by:
                (self.folder / EXPECTED / self.planned_by).unlink(missing_ok=True)
            done = replace(self.me, finished=time.time())
            tmp = self._write_new(done)
            os.replace(tmp, self.path)
            self._event("finished", kept_for_duplicates=kept)
        else:
            self.path.unlink(missing_ok=True)
            self._event("released", completed=completed)
        self._log_link.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, exc_type, *exc) -> None:
        self.release(completed=exc_type is None)
