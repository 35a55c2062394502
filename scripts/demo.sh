#!/usr/bin/env bash
# The main job on a machine with no COCO, no ADE20K and no GPU: generate the embedded shapes
# dataset, train a SoLA-Vision Mask R-CNN on it with tools/train.py (and UperNet if asked),
# evaluate with mmdet's (mmseg's) metric, and draw the predictions.
#   bash scripts/demo.sh            (make demo runs the set-up first)
# Environment: DEMO_TASKS (default "det"; "det seg" adds the UperNet), WORK_DIR=work_dirs,
# VENV=.venv (the environment made by make install)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(realpath -m "${VENV:-.venv}")/bin/python
WORK_DIR=${WORK_DIR:-work_dirs}
TASKS=${DEMO_TASKS:-det}

declare -A CONFIGS=(
    [det]=configs/demo/mask-rcnn_sola-mini_fpn_shapes.py
    [seg]=configs/demo/upernet_sola-mini_shapes.py
)

echo "[demo] generating data/shapes"
"$PY" tools/data/generate_shapes.py --out data/shapes

for task in $TASKS; do
    config=${CONFIGS[$task]:?unknown task $task (det or seg)}
    run_dir="$WORK_DIR/demo_$task"
    echo "[demo] training $config -> $run_dir"
    "$PY" tools/train.py "$config" --work-dir "$run_dir"
    checkpoint=$(cat "$run_dir/last_checkpoint")
    echo "[demo] evaluating $checkpoint"
    "$PY" tools/test.py "$config" "$checkpoint" --work-dir "$run_dir/test" \
        --show-dir "$run_dir/predictions"
done

echo
echo "[demo] results (tools/analysis/results_table.py; FLOPs at the demo's 128 x 128)"
run_dirs=()
for task in $TASKS; do
    run_dirs+=("$WORK_DIR/demo_$task")
done
"$PY" tools/analysis/results_table.py "${run_dirs[@]}" --flops-shape 128 128 \
    --markdown "$WORK_DIR/demo_results.md"
cat "$WORK_DIR/demo_results.md"
for run_dir in "${run_dirs[@]}"; do
    echo "prediction images: $run_dir/predictions"
done
