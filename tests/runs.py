"""Finished workflow runs shared by test modules: each config runs at most once per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from test_workflow import copy_workflow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
_FINISHED: dict[tuple, Path] = {}


def snakemake(work: Path, *args, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, *args], cwd=work, capture_output=True, text=True,
                          timeout=timeout)


def finished_run(tmp_path_factory, *configfiles: str) -> Path:
    """A copy of the workflow in a temp dir, run to the end with these config files."""
    if configfiles not in _FINISHED:
        work = copy_workflow(tmp_path_factory.mktemp("workflow"))
        if (REPO / "envs").is_dir() and not (work / "envs").exists():  # rules' conda: files
            shutil.copytree(REPO / "envs", work / "envs")
        out = snakemake(work, "--cores", "2", "--configfile", *configfiles)
        assert out.returncode == 0, out.stderr[-4000:]
        _FINISHED[configfiles] = work
    return _FINISHED[configfiles]
