#!/usr/bin/env bash
# Distributed training, one process per GPU (or per CPU worker, with gloo):
#   bash tools/dist_train.sh CONFIG NPROC [train.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
exec bash "$(dirname "$0")/dist_launch.sh" train.py "$NPROC" "$CONFIG" "$@"
