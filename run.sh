#!/usr/bin/env bash
# Run the workflow on the embedded default (config/config.yaml): ./run.sh [extra snakemake args]
set -euo pipefail
cd "$(dirname "$0")"
source ./bootstrap.sh
if [ "$#" -eq 0 ]; then set -- --cores all; fi
exec snakemake "$@"
