#!/usr/bin/env bash
# GPU benchmark, for the device machine: Python 3.12 with JAX and PyTorch, no TensorFlow
# or Keras. Keras and its two missing dependencies travel as wheels in .whl/ (carry: [".whl"]);
# make them here first with benchmarks/gpu_wheels.sh. Results: $OUT/gpu.json, gpu.csv, gpu.log.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT"
if ! python3 -c "import keras" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt"
# Hard stop well inside the device call: the table is printed last, by the parent process.
timeout 280 python3 benchmarks/gpu.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu.log"
