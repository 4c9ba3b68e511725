#!/usr/bin/env bash
# K seeds of one setting trained at once in one process: aggregate images/s of the paper
# CNN (112 px, batch 32 per model) with clusterage.analysis.ensemble.EnsembleEpochRunner (jax.vmap over the
# stacked model states), K=5 then K=2, mixed_bfloat16 and float32, and the single-model baseline
# on the same card. For the device machine (Python 3.12 with JAX, no Keras): make the wheels here
# first with benchmarks/gpu_wheels.sh (carry: [".whl"]). At most 4 files in $OUT: gpu.log,
# gpu.json, gpu.csv (and gpu-jax.json only if the run was cut off). The table is printed last.
# CPU check: JAX_PLATFORMS=cpu bash benchmarks/gpu_ensemble.sh --dry-run
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if ! "$PY" -c "import keras" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/gpu.log" 2>&1
cat "$OUT/gpu.log"
# Budget 215 s (no item started with under 35 s left), hard stop at 250 s; extra args go last.
timeout 250 "$PY" benchmarks/gpu.py --out "$OUT" --backends jax --precisions mixed_bfloat16 \
    --training-backends none --ensemble 5 2 --ensemble-precisions mixed_bfloat16 float32 \
    --budget-s 215 --min-left-s 35 "$@" 2>&1 | tee -a "$OUT/gpu.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "gpu_ensemble.sh: stopped by timeout 250; finished items are in $OUT/gpu-jax.json"
exit "$rc"
