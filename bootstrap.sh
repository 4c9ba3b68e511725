#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv, from nothing but Python >= 3.11.
# Sourced by run.sh and test.sh; reinstalls only when pyproject.toml changed or extras are missing.
#   CLUSTERAGE_EXTRAS=gpu ./bootstrap.sh   # NVIDIA GPU nodes: Keras on JAX's CUDA 12 build
# Extras (pyproject.toml): tensorflow (default backend, CPU), jax (CPU build), gpu, torch, test.
# Extras installed earlier are kept: the venv holds the union of all that were asked for.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
stamp="$venv/.clusterage-installed"
: "${CLUSTERAGE_EXTRAS:=tensorflow,test}"
hash="$(sha256sum "$here/pyproject.toml" | cut -d' ' -f1)"
read -r had_hash had_extras 2>/dev/null < "$stamp" || { had_hash=""; had_extras=""; }
extras="$(printf '%s\n' ${CLUSTERAGE_EXTRAS//,/ } ${had_extras//,/ } | sed '/^$/d' | sort -u | paste -sd, -)"
if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating $venv with $($python --version)" >&2
  "$python" -m venv "$venv"
fi
if [ "$had_hash" != "$hash" ] || [ "$extras" != "$had_extras" ]; then
  echo "[bootstrap] installing clusterage[$extras] into .venv (a minute or two the first time)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -e "$here[$extras]" >&2
  echo "$hash $extras" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
