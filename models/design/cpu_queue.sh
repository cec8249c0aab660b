#!/usr/bin/env bash
# The whole AttoNet family and the baselines on CPU, one job after another,
# each resumable: run it again (after an interruption, or in a later session)
# and it continues where it stopped; finished jobs are skipped. Meant to run
# in the background at the lowest priority, so builds and CI barely notice:
#
#   setsid nohup nice -n 19 bash models/design/cpu_queue.sh > .data/queue.log 2>&1 &
#
# Needs the attonet tool for the measurements: cargo build --release -p attonet-cli
# Jobs (outputs under .data/, git-ignored; finalists published to models/):
#   explore/A .. explore/D  design exploration per budget (configs/cpu-*.json):
#                           3 generations x 6 candidates on a proxy schedule,
#                           then the best candidate trained in full and exported
#   baselines/resnet8       MLPerf Tiny ResNet-8 architecture, same recipe
#   baselines/mobilenet     MobileNet-v1-style baseline of similar MACs
# With a GPU session, models/design/gpu_session.sh does the same in minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PYTHON:-.venv-design/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

explore() {  # name config
    local out=.data/explore/$1
    if [ -f "$out/candidates.csv" ] && grep -q '^final,' "$out/candidates.csv"; then
        echo "== explore $1: done"
    else
        echo "== explore $1 ($(date -u +%FT%TZ))"
        "$py" -m models.design explore --config "models/design/configs/$2" --out "$out" \
            --device cpu --resume
    fi
    # The finalist -> models/attonet-<x> (ONNX, calibration, card), for review.
    local name dest final
    name=$(echo "$1" | tr 'A-Z' 'a-z')
    dest=models/attonet-$name
    final=$(ls -d "$out"/final/*/ 2>/dev/null | head -1)
    if [ -n "$final" ] && [ -f "$final/model.onnx" ] && [ ! -f "$dest/card.json" ]; then
        echo "== publish AttoNet-$1 -> $dest"
        "$py" -m models.design publish --run "$final" --title "AttoNet-$1" --out "$dest"
    fi
}

baseline() {  # arch epochs
    local out=.data/baselines/$1
    if [ -f "$out/result.json" ] && ls "$out"/*.onnx > /dev/null 2>&1; then
        echo "== baseline $1: done"; return
    fi
    echo "== baseline $1 ($(date -u +%FT%TZ))"
    "$py" -m models.design train --arch "$1" --out "$out" --device cpu --resume \
        --epochs "$2" --batch 128 --lr 0.1 --eval-every 10 --ckpt-every 1
}

explore A attonet-a.json
baseline resnet8 150
explore B attonet-b.json
baseline mobilenet 150
explore C attonet-c.json
explore D attonet-d.json
echo "== queue finished ($(date -u +%FT%TZ))"
