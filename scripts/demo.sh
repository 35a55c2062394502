#!/usr/bin/env bash
# The main job on a machine with no COCO, no ADE20K and no GPU: generate the embedded shapes
# dataset, train a SoLA-Vision Mask R-CNN on it with tools/train.py (and UperNet if asked),
# evaluate with mmdet's (mmseg's) metric, and draw the predictions.
#   bash scripts/demo.sh            (make demo runs the set-up first)
# Environment: DEMO_TASKS (default "det"; "det seg" adds the UperNet), WORK_DIR=work_dirs,
# PYTHON=.venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
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
echo "[demo] results"
for task in $TASKS; do
    run_dir="$WORK_DIR/demo_$task"
    "$PY" - "$run_dir" <<'PYEOF'
import json, sys, os
run_dir = sys.argv[1]
result = json.load(open(os.path.join(run_dir, 'test', 'test_metrics.json')))
keys = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'mIoU', 'aAcc')
shown = ', '.join(f'{k} {result["metrics"][k]:.3f}' for k in keys if k in result['metrics'])
print(f'{os.path.basename(result["config"])}: {shown}')
print(f'  prediction images: {os.path.join(run_dir, "predictions")}')
PYEOF
done
