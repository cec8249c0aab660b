#!/usr/bin/env bash
# Builds the RISC-V kernel test firmware and runs it under QEMU `virt`: every
# RISC-V fast path against the portable kernels on random cases (exit status
# 1 and the case on the first difference), then instructions per MAC of both
# on ResNet-8, DS-CNN and AttoNet layers, counted with minstret.
#
#   tests/qemu-kernels-riscv/run.sh [imac|imc|all] [--quick]
#
#   imac     riscv32imac-unknown-none-elf (default)
#   imc      riscv32imc-unknown-none-elf
#   --quick  fewer random cases (200 instead of 4000 per kernel family)
#
# Needs qemu-system-riscv32 (QEMU 8 or newer) and the Rust targets
# (rustup target add riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf;
# `cargo xtask test`, which runs this script, adds them and QEMU when missing).
set -euo pipefail
cd "$(dirname "$0")"

targets="${1:-imac}"
[ "$targets" = all ] && targets="imac imc"
features=()
if [ "${2:-}" = --quick ]; then features=(--features quick); fi

for t in $targets; do
    echo "== riscv32$t"
    case "$t" in
    imac|imc)
        cargo run --release "${features[@]}" --target "riscv32$t-unknown-none-elf" ;;
    *)
        echo "unknown target $t (imac, imc, all)" >&2; exit 2 ;;
    esac
done
