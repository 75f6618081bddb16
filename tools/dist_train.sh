#!/usr/bin/env bash
# Distributed training with torchrun (one node or several).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Several nodes: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on each node
# (tools/dist_run.sh). On a CPU-only machine the processes use the gloo
# backend and DDP takes no device ids:
# `--cfg-options env_cfg.dist_cfg.backend=gloo model_wrapper_cfg.device_ids=None`.
set -euo pipefail
CONFIG=$1
GPUS=$2

exec bash "$(dirname "$0")/dist_run.sh" "$GPUS" train.py \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
