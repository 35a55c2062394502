#!/usr/bin/env bash
# The main job: a leaderboard reproduction in miniature on the embedded shapes data, every step a
# tool of the project (`make demo` runs the set-up first):
#   1. tools/data/generate_shapes.py writes data/shapes (kept when it already holds that data);
#   2. tools/train.py pretrains the demo classifier (mmpretrain);
#   3. tools/model_converters/cls_to_backbone.py turns its checkpoint into a backbone checkpoint;
#   4. tools/train.py fine-tunes the demo Mask R-CNN (mmdet) and UperNet (mmseg) from it, side
#      by side (logs in the run folder);
#   5. tools/test.py evaluates the three with their libraries' metrics and draws predictions;
#   6. tools/analysis_tools/metafile.py writes each task's metafile (params, FLOPs, metrics) and
#      prints the run's table.
# Steps 4-6 run as two chains side by side: [classifier test, Mask R-CNN, its test, the two
# metafiles] and [UperNet, its test, its metafile]; the first is the shorter one.
# Every run gets a folder of its own, $WORK_DIR/demo/<date>_<time>; $WORK_DIR/demo/latest points
# to the last one that finished, so a second run never mixes its results with the first's.
# Environment: WORK_DIR (default work_dirs), VENV (default .venv), DEMO_SEED (default 0: the
# shipped seed), DEMO_PRETRAIN (default 1; 0 trains the detector and segmentor from scratch, as
# the comparison in docs/main_job.md), DEMO_RUN (a run folder name instead of the date and time).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(realpath -m "${VENV:-.venv}")/bin/python
WORK_DIR=${WORK_DIR:-work_dirs}
SEED=${DEMO_SEED:-0}
PRETRAIN=${DEMO_PRETRAIN:-1}
case "$PRETRAIN" in 0|1) ;; *) echo "DEMO_PRETRAIN must be 0 or 1, got '$PRETRAIN'" >&2; exit 2;; esac
case "$SEED" in ''|*[!0-9]*) echo "DEMO_SEED must be a non-negative integer, got '$SEED'" >&2; exit 2;; esac

RUN=${DEMO_RUN:-$(date +%Y%m%d_%H%M%S)}
RUN_DIR="$WORK_DIR/demo/$RUN"
if [ -e "$RUN_DIR" ]; then
    echo "[demo] $RUN_DIR exists already; choose another DEMO_RUN (or remove it)" >&2
    exit 2
fi
mkdir -p "$RUN_DIR"
START=$(date +%s)
step() { echo; echo "[demo $(date +%H:%M:%S), $(( $(date +%s) - START )) s] $*"; }

declare -A CONFIGS=(
    [cls]=configs/demo/sola-mini_shapes.py
    [det]=configs/demo/mask-rcnn_sola-mini_fpn_shapes.py
    [seg]=configs/demo/upernet_sola-mini_shapes.py
)
TASKS=(det seg)
[ "$PRETRAIN" = 1 ] && TASKS=(cls det seg)

train() {  # task, then extra tools/train.py arguments
    local task=$1 config=${CONFIGS[$1]}
    shift
    step "training $config -> $RUN_DIR/$task"
    "$PY" tools/train.py "$config" --work-dir "$RUN_DIR/$task" \
        --cfg-options "randomness.seed=$SEED" "$@"
}

test_and_tabulate() {  # task: its test, predictions and metafile ($RUN_DIR/<task>/metafile.yml)
    local task=$1 config=${CONFIGS[$1]}
    step "evaluating $(cat "$RUN_DIR/$task/last_checkpoint")"
    "$PY" tools/test.py "$config" "$(cat "$RUN_DIR/$task/last_checkpoint")" \
        --work-dir "$RUN_DIR/$task/test" --show-dir "$RUN_DIR/$task/predictions"
    step "metafile of $task (FLOPs at the task's paper input size)"
    "$PY" tools/analysis_tools/metafile.py results "$RUN_DIR/$task/test" \
        --metafile "$RUN_DIR/$task/metafile.yml" --name "$(basename "$config" .py)$SUFFIX" \
        --dataset shapes
    "$PY" tools/analysis_tools/metafile.py fill "$RUN_DIR/$task/metafile.yml"
}

step "generating data/shapes"
"$PY" tools/data/generate_shapes.py --out data/shapes

SUFFIX=$([ "$PRETRAIN" = 1 ] && echo "" || echo "_scratch")
FINETUNE_ARGS=()
if [ "$PRETRAIN" = 1 ]; then
    train cls
    step "converting the classifier's checkpoint for the dense tasks"
    BACKBONE="$RUN_DIR/cls/backbone.pth"
    "$PY" tools/model_converters/cls_to_backbone.py "$(cat "$RUN_DIR/cls/last_checkpoint")" \
        "$BACKBONE"
    # _delete_: replace the configs' init_cfg (their from-scratch init) instead of merging into it.
    FINETUNE_ARGS=(model.backbone.init_cfg._delete_=True model.backbone.init_cfg.type=Pretrained
                   "model.backbone.init_cfg.checkpoint=$BACKBONE")
fi
# The two fine-tunes are independent: they run side by side, each with half of the cores. The
# demo's small tensors use a second thread poorly (a step is 1.2-1.35x faster with two than with
# one, measured on 2 cores), so two one-thread runs finish well before the two runs in a row.
THREADS=$(( $(nproc) / 2 ))
[ "$THREADS" -ge 1 ] || THREADS=1
detection_chain() {
    if [ "$PRETRAIN" = 1 ]; then test_and_tabulate cls; fi
    train det "${FINETUNE_ARGS[@]}"
    test_and_tabulate det
}
segmentation_chain() {
    train seg "${FINETUNE_ARGS[@]}"
    test_and_tabulate seg
}
declare -A PIDS
step "fine-tuning side by side, $THREADS thread(s) each; logs $RUN_DIR/det.log, $RUN_DIR/seg.log"
OMP_NUM_THREADS=$THREADS detection_chain > "$RUN_DIR/det.log" 2>&1 &
PIDS[det]=$!
OMP_NUM_THREADS=$THREADS segmentation_chain > "$RUN_DIR/seg.log" 2>&1 &
PIDS[seg]=$!
tail -n +1 -F "$RUN_DIR/det.log" "$RUN_DIR/seg.log" 2>/dev/null > >(awk '
    /^==> .*det\.log <==$/ { task = "det"; next }
    /^==> .*seg\.log <==$/ { task = "seg"; next }
    /^\[demo |Iter\(train\) \[ *[0-9]*00\/|Iter\((val|test)\) \[[0-9\/]+\] +(coco|aAcc|accuracy)/ {
        print "[" task "] " $0; fflush() }') &
PROGRESS=$!
stop_background() {  # the fine-tunes (their python processes too) and the progress reader
    for pid in "${PIDS[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; done
    kill "${PIDS[@]}" "$PROGRESS" 2>/dev/null || true
}
trap stop_background EXIT
for task in det seg; do
    if ! wait "${PIDS[$task]}"; then
        echo "[demo] fine-tuning $task failed; the end of $RUN_DIR/$task.log:" >&2
        tail -n 30 "$RUN_DIR/$task.log" >&2
        exit 1
    fi
done
trap - EXIT
kill "$PROGRESS" 2>/dev/null || true

step "results"
metafiles=()
for task in "${TASKS[@]}"; do metafiles+=("$RUN_DIR/$task/metafile.yml"); done
"$PY" tools/analysis_tools/metafile.py table "${metafiles[@]}" | tee "$RUN_DIR/results.md"
# mmseg logs the per-class IoU table; the metafile keeps only the mean.
seg_log=$(ls "$RUN_DIR"/seg/test/*/*.log | tail -n 1)
{ echo; echo "Segmentation, per class (mmseg IoUMetric, $seg_log):"; echo
  sed -n '/per class results/,/Iter(test)/p' "$seg_log" | grep '^[|+]'; } | tee -a "$RUN_DIR/results.md"
ln -sfn "$RUN" "$WORK_DIR/demo/latest"
echo
echo "run folder: $RUN_DIR (also $WORK_DIR/demo/latest); seed $SEED; $(( $(date +%s) - START )) s"
echo "metafiles: ${metafiles[*]}; table: $RUN_DIR/results.md"
for task in "${TASKS[@]}"; do
    echo "prediction images ($task): $RUN_DIR/$task/predictions"
done
