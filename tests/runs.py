"""Finished workflow runs shared by test modules: each config runs at most once per session."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
_FINISHED: dict[tuple, Path] = {}


def copy_workflow(dest: Path) -> Path:
    """The workflow's files (no results) copied into ``dest``."""
    for item in ("Snakefile", "workflow", "config", "envs", "tests/configs"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / item)
    return dest


def snakemake(work: Path, *args, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, *args], cwd=work, capture_output=True, text=True,
                          timeout=timeout)


def job_blocks(stdout: str) -> list[tuple[str, str]]:
    """(rule, text) of every job a dry run lists, in its order."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", stdout):
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        if m:
            jobs.append((m.group(1), block))
    return jobs


def finished_run(tmp_path_factory, *configfiles: str) -> Path:
    """A copy of the workflow in a temp dir, run to the end with these config files; what the
    run printed is in ``snakemake.stdout`` there. Each config runs once per session, also across
    the test workers (pytest-xdist): the first worker that asks runs it, under a file lock, and
    the others wait for it. Tests that share it must not change its outputs nor run a real
    (non-dry) Snakemake in it: work on a copy, or write beside them."""
    if configfiles not in _FINISHED:
        root = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            root = root.parent  # the session's folder, shared by its workers
        name = "workflow-" + hashlib.sha1("\0".join(configfiles).encode()).hexdigest()[:10]
        work = root / name
        with open(root / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (work / "snakemake.stdout").is_file():
                shutil.rmtree(work, ignore_errors=True)  # a run that failed in another worker
                copy_workflow(work)
                out = snakemake(work, "--cores", "2", "--configfile", *configfiles)
                assert out.returncode == 0, out.stderr[-4000:]
                (work / "snakemake.stdout").write_text(out.stdout)
        _FINISHED[configfiles] = work
    return _FINISHED[configfiles]


FAIL_ONCE = '''
# Fault installed by tests/runs.py (fail_first_training): the first attempt that finds the marker
# removes it and fails; every later attempt trains.
import os as _os
try:
    _os.remove({marker!r})
except FileNotFoundError:
    pass
else:
    raise SystemExit("training failed on purpose (test fault: removed {marker})")
'''


def fail_first_training(work: Path, marker: Path) -> None:
    """Make exactly one training of the workflow copy in ``work`` fail, so that a run shows its
    retry: the copy's train script gets a fault that fires once, while ``marker`` exists."""
    script = work / "workflow" / "scripts" / "train.py"
    text = script.read_text()
    anchor = 'start_job(snakemake.log[0], snakemake.threads, snakemake.config.get("keras_backend"))\n'
    assert anchor in text, f"{script} no longer starts by opening its log; move the fault"
    marker.write_text("the first training that removes this file fails\n")
    script.write_text(text.replace(anchor, anchor + FAIL_ONCE.format(marker=str(marker)), 1))


def hold_trainings(work: Path, seconds: float) -> None:
    """Make every training of the workflow copy in ``work`` hold its run for ``seconds`` before
    it trains (its run lock taken), so that a test can act while the trainings surely run."""
    script = work / "workflow" / "scripts" / "train.py"
    text = script.read_text()
    anchor = "    if lock.finished_by is None:\n"
    assert anchor in text, f"{script} no longer trains under its run lock; move the hold"
    script.write_text(text.replace(anchor, anchor + f"        __import__('time').sleep({seconds})\n", 1))



BROKEN_IMPORT = '''    # Fault installed by tests/runs.py (break_trainings): while the marker exists, every training
    # fails as on a node whose environment lacks the backend's GPU plugin.
    if __import__("os").path.exists({marker!r}):
        raise ImportError("No module named 'jax_cuda12_plugin' (test fault: {marker} exists)")
'''


def break_trainings(work: Path, marker: Path) -> None:
    """Make every training of the workflow copy in ``work`` fail with an ImportError (an error no
    retry can cure) while ``marker`` exists."""
    script = work / "workflow" / "scripts" / "train.py"
    text = script.read_text()
    anchor = "    from clusterage.train.training import train\n"
    assert anchor in text, f"{script} no longer imports the training inside its run; move the fault"
    if "break_trainings" not in text:
        script.write_text(text.replace(anchor, BROKEN_IMPORT.format(marker=str(marker)) + anchor, 1))
