#!/usr/bin/env bash
# Wheels that benchmarks/gpu_run.sh installs on the GPU machine (Python 3.12, no Keras there).
# absl-py, h5py, ml-dtypes, numpy, packaging, rich are in that machine's image already.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    keras==3.15.1 namex==0.1.0 optree==0.20.0
