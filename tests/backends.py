"""Running a snippet under each Keras backend, in its own process (a backend is chosen at import)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def installed(backend: str) -> bool:
    return importlib.util.find_spec(BACKEND_MODULES[backend]) is not None


def run_on_backend(backend: str, code: str, timeout: float):
    """The JSON printed last by ``code`` run on ``backend`` (CPU, one thread); skips the test
    where the backend is not installed."""
    if not installed(backend):
        pytest.skip(f"Keras backend {backend!r} is not installed (pip install clusterage[{backend}])")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1",
               JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
