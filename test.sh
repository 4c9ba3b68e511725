#!/usr/bin/env bash
# Run the test suite: ./test.sh [extra pytest args]
# Installs JAX's CPU build beside TensorFlow, so the backend the GPU clusters use (profiles/slurm:
# JAX, mixed_bfloat16) is tested too. Two workers (pytest-xdist), each test file on one of them, so
# that a file's fixtures (a workflow run, the Slurm cluster's jobs) are made once; the longest files
# start first (tests/conftest.py), and while the Slurm tests wait on the scheduler the other worker
# goes on.
set -euo pipefail
cd "$(dirname "$0")"
export CLUSTERAGE_EXTRAS="${CLUSTERAGE_EXTRAS:-tensorflow,jax,test}"
source ./bootstrap.sh
exec python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25 "$@"
