#!/usr/bin/env bash
# The torchrun launch shared by dist_train.sh and dist_test.sh (one node or
# several):
#   bash tools/dist_run.sh NUM_PROCS SCRIPT [SCRIPT args...]
# runs tools/SCRIPT in NUM_PROCS processes on this node with the repository
# root on PYTHONPATH. Several nodes: set NNODES, NODE_RANK, MASTER_ADDR (and
# PORT) on each node; PYTHON picks the interpreter (default: python).
set -euo pipefail
GPUS=$1
SCRIPT=$2
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
    "$ROOT/tools/$SCRIPT" \
    "${@:3}"
