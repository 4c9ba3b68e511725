#!/usr/bin/env bash
# Run the workflow on the embedded default (config/config.yaml): ./run.sh [extra snakemake args]
# Without arguments: the whole chain on all cores, then the HTML report of the run.
set -euo pipefail
cd "$(dirname "$0")"
source ./bootstrap.sh
if [ "$#" -gt 0 ]; then exec snakemake "$@"; fi
snakemake --cores all
results="$(python -c 'import yaml; print(yaml.safe_load(open("config/config.yaml"))["results"])')"
if snakemake --report "$results/report.html" >"$results/logs/report.log" 2>&1; then
  echo "HTML report written: $results/report.html"
else
  echo "The HTML report failed; see $results/logs/report.log" >&2
  exit 1
fi
