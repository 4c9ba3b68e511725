#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv, from nothing but Python >= 3.11.
# Sourced by run.sh and test.sh; reinstalls only when pyproject.toml changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
stamp="$venv/.clusterage-installed"
want="$(sha256sum "$here/pyproject.toml" | cut -d' ' -f1) ${CLUSTERAGE_EXTRAS:=tensorflow,test}"
if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating $venv with $($python --version)" >&2
  "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing clusterage[$CLUSTERAGE_EXTRAS] into .venv (a minute or two the first time)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -e "$here[$CLUSTERAGE_EXTRAS]" >&2
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
