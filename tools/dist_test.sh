#!/usr/bin/env bash
# Distributed testing with torchrun (launch and environment variables as in
# tools/dist_run.sh).
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args...]
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3

exec bash "$(dirname "$0")/dist_run.sh" "$GPUS" test.py \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
