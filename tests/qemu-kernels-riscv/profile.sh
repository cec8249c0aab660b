#!/usr/bin/env bash
# Where one benchmark layer's fast path spends its instructions: builds the
# firmware with `--features profile` (that layer alone, PROFILE_LAYER=<index>
# into the bench table, default 1) and runs it under QEMU with
# `-d in_asm,exec,nochain`, then prints instructions per function and the
# hottest instructions (needs python3 and llvm-nm / llvm-objdump).
#
#   tests/qemu-kernels-riscv/profile.sh [LAYER] [MIN_COUNT]
set -euo pipefail
cd "$(dirname "$0")"
layer="${1:-1}"
min="${2:-1000}"
PROFILE_LAYER="$layer" cargo build --release --features profile
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
elf="$target_dir/riscv32imac-unknown-none-elf/release/attonet-qemu-kernels-riscv"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
timeout 900 qemu-system-riscv32 -machine virt -bios none -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0,align=off,sleep=off \
    -d in_asm,exec,nochain -D "$log" -kernel "$elf"
python3 profile.py "$log" "$elf" "$min"
