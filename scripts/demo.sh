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
echo "[demo] results (tools/analysis_tools/metafile.py; FLOPs at each task's paper input size)"
metafile="$WORK_DIR/demo_metafile.yml"
rm -f "$metafile"
for task in $TASKS; do
    "$PY" tools/analysis_tools/metafile.py results "$WORK_DIR/demo_$task/test" \
        --metafile "$metafile" --name "$(basename "${CONFIGS[$task]}" .py)" --dataset shapes
done
"$PY" tools/analysis_tools/metafile.py fill "$metafile"
"$PY" tools/analysis_tools/metafile.py table "$metafile"
echo "metafile: $metafile"
for task in $TASKS; do
    echo "prediction images: $WORK_DIR/demo_$task/predictions"
done
