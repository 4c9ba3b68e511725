#!/usr/bin/env bash
# Several trainings sharing one GPU (job packing): aggregate images/s of N concurrent JAX bf16
# processes of the paper model at batch 32, against one process alone, in the same command.
# Run on the device machine after benchmarks/gpu_wheels.sh here (carry: [".whl"]).
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-4}
OUT=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
args=(--backends jax --precisions mixed_bfloat16 --training-backends none --n-batches 1500 --budget-s 150)
timeout 120 python3 benchmarks/gpu.py --out /tmp/solo "${args[@]}" > "$OUT/solo.txt" 2>&1
for i in $(seq "$N"); do
  timeout 150 python3 benchmarks/gpu.py --out "/tmp/p$i" "${args[@]}" > "$OUT/p$i.txt" 2>&1 &
done
wait
echo "== one process alone"; grep -E "^jax +mixed" "$OUT/solo.txt"
echo "== $N processes at once"; grep -hE "^jax +mixed" "$OUT"/p*.txt
python3 - "$OUT" "$N" <<'PY'
import re, sys, pathlib
out, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
rate = lambda p: float(re.search(r"steady, batch 32\s+(\d+) img/s", p.read_text()).group(1))
solo = rate(out / "solo.txt")
total = sum(rate(out / f"p{i}.txt") for i in range(1, n + 1))
print(f"solo {solo:.0f} img/s; {n} at once {total:.0f} img/s in all = {total / solo:.2f}x solo, "
      f"{total / 1000:.1f}x the authors' ~1000 img/s")
PY
