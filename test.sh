#!/usr/bin/env bash
# Run the test suite: ./test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")"
source ./bootstrap.sh
exec python -m pytest "$@"
