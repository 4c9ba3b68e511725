"""Stop a sweep whose trainings fail for a reason no retry can cure.

A training that cannot import its Keras backend, or that was given a GPU its backend cannot see,
fails the same way on every attempt and on every node with the same software: retrying it, and
submitting the rest of the grid, only fills the queue with jobs that stop after seconds. Such a
training records its error in a folder shared with the Snakemake process (:func:`recording`);
that process watches the folder (:func:`watch`) and, once ``threshold`` different trainings have
failed with the same error, stops the run: it says why and interrupts itself as Ctrl-C does,
which cancels the run's queued and running jobs and submits nothing more.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger(__name__)

# Errors that come from the software or the device, not from the run: the same on every retry.
UNRECOVERABLE = (ImportError,)
POLL_S = 2.0


def _unrecoverable(exc: BaseException) -> bool:
    from clusterage.train.device import (
        DeviceError,  # no backend import: device imports them lazily
    )

    return isinstance(exc, (DeviceError, *UNRECOVERABLE))


@contextmanager
def recording(folder: str | os.PathLike, run: str) -> Iterator[None]:
    """Around a training's work: an unrecoverable error is written to ``folder`` (one file per
    failure, named after ``run``), then raised as before."""
    try:
        yield
    except BaseException as exc:
        if _unrecoverable(exc):
            write(folder, run, exc)
        raise


def write(folder: str | os.PathLike, run: str, exc: BaseException) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"time": time.time(), "run": run, "error": type(exc).__name__,
              "message": str(exc).splitlines()[0] if str(exc) else "",
              "host": os.uname().nodename, "slurm_job_id": os.environ.get("SLURM_JOB_ID")}
    path = folder / f"{secrets.token_hex(6)}.json"
    tmp = folder / f".{path.name}.part"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return path


def tripped(folder: str | os.PathLike, since: float, threshold: int) -> str | None:
    """Why the run must stop: ``threshold`` different trainings failed with the same error since
    ``since`` (time.time()); None otherwise."""
    if threshold < 1:
        return None
    by_error: dict[tuple[str, str], dict[str, dict]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("time", 0) >= since:
            # The same error on another node may name another GPU index, job or pid.
            key = (record.get("error", "?"), re.sub(r"\d+", "#", record.get("message", "")))
            by_error.setdefault(key, {})[record.get("run", path.name)] = record
    for (error, _), runs in by_error.items():
        if len(runs) >= threshold:
            first = min(runs.values(), key=lambda r: r.get("time", 0))  # the first to fail
            message = first.get("message", "")
            hosts = sorted({r.get("host", "?") for r in runs.values()})
            jobs = sorted(str(r["slurm_job_id"]) for r in runs.values() if r.get("slurm_job_id"))
            return (f"{len(runs)} trainings failed with the same error, which no retry can cure, "
                    f"so the run stops instead of submitting the rest of the grid: {error}: "
                    f"{message} (hosts: {', '.join(hosts)}"
                    + (f"; Slurm jobs: {' '.join(jobs)}" if jobs else "")
                    + f"; each training's log says more). Records: {folder}")
    return None


def watch(folder: str | os.PathLike, since: float, threshold: int,
          stop: Callable[[str], None] | None = None, poll_s: float = POLL_S) -> threading.Thread:
    """A daemon thread that calls ``stop(reason)`` once :func:`tripped` says so; the default
    ``stop`` logs the reason and interrupts this process (SIGINT, as Ctrl-C)."""
    def interrupt(reason: str) -> None:
        log.error("%s", reason)
        os.kill(os.getpid(), signal.SIGINT)

    stop = stop or interrupt

    def loop() -> None:
        while True:
            reason = tripped(folder, since, threshold)
            if reason:
                stop(reason)
                return
            time.sleep(poll_s)

    thread = threading.Thread(target=loop, name="clusterage-breaker", daemon=True)
    thread.start()
    return thread
