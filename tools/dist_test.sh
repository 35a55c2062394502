#!/usr/bin/env bash
# Distributed testing, one process per GPU (or per CPU worker, with gloo):
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
exec bash "$(dirname "$0")/dist_launch.sh" test.py "$NPROC" "$CONFIG" "$CHECKPOINT" "$@"
