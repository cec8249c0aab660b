#!/usr/bin/env bash
# Builds the kernel test firmware and runs it under QEMU: every DSP fast path
# against the portable kernels on random cases (exit status 1 and the case on
# the first difference), then instructions per MAC of both on model layers.
#
#   tests/qemu-kernels/run.sh [an386|an500|an547|all] [--quick]
#
#   an386  mps2-an386, Cortex-M4F, thumbv7em-none-eabihf (default)
#   an500  mps2-an500, Cortex-M7,  thumbv7em-none-eabihf
#   an547  mps3-an547, Cortex-M55, thumbv8m.main-none-eabihf (+dsp via target-cpu)
#   --quick  fewer random cases (200 instead of 4000 per kernel family)
set -euo pipefail
cd "$(dirname "$0")"

boards="${1:-an386}"
[ "$boards" = all ] && boards="an386 an500 an547"
features=()
if [ "${2:-}" = --quick ]; then features=(--features quick); fi

qemu_common="-nographic -monitor none -serial none -semihosting-config enable=on,target=native -icount shift=7,align=off,sleep=off -kernel"

for board in $boards; do
    echo "== $board"
    case "$board" in
    an386)
        cargo run --release "${features[@]}" ;;
    an500)
        cargo run --release "${features[@]}" \
            --config "target.thumbv7em-none-eabihf.runner = \"timeout 900 qemu-system-arm -machine mps2-an500 -cpu cortex-m7 $qemu_common\"" \
            --config 'target.thumbv7em-none-eabihf.rustflags = ["-C", "target-cpu=cortex-m7"]' ;;
    an547)
        cargo run --release "${features[@]}" --target thumbv8m.main-none-eabihf ;;
    *)
        echo "unknown board $board (an386, an500, an547, all)" >&2; exit 2 ;;
    esac
done
