#!/usr/bin/env bash
# Run the test suite: ./test.sh [extra pytest args]
# Installs JAX's CPU build beside TensorFlow, so the backend the GPU clusters use (profiles/slurm:
# JAX, mixed_bfloat16) is tested too.
set -euo pipefail
cd "$(dirname "$0")"
export CLUSTERAGE_EXTRAS="${CLUSTERAGE_EXTRAS:-tensorflow,jax,test}"
source ./bootstrap.sh
exec python -m pytest -n 2 --dist loadgroup --durations=25 "$@"
