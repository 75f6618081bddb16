#!/usr/bin/env bash
# Distributed training with torchrun (one node or several).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Several nodes: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on each node.
# On a CPU-only machine the processes use the gloo backend (set in the configs
# through env_cfg.dist_cfg; `--cfg-options env_cfg.dist_cfg.backend=gloo`).
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python}"

PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
"$PY" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$ROOT/tools/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
