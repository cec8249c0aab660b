#!/usr/bin/env bash
# Instruction profile of one benchmark layer's fast path on mps2-an386:
# builds the firmware with `--features profile` (PROFILE_LAYER=<index>, an
# index into LAYERS in src/main.rs), runs it under QEMU with
# `-d in_asm,exec,nochain` and counts executed instructions per function (and,
# given a hex address range, per instruction in it; addresses from
# `llvm-nm -C -n -S` on the ELF it prints).
#
#   tests/qemu-kernels/profile.sh <index> [<lo> <hi>]
#   PROFILE_ROWS=1 tests/qemu-kernels/profile.sh <index>   (one output row per call)
#
# Needs qemu-system-arm, llvm-nm and python3. The counts include the
# firmware's own setup (random fills, printing): look at the kernel's rows.
set -euo pipefail
cd "$(dirname "$0")"
layer="${1:?usage: profile.sh <layer index> [<lo hex> <hi hex>]}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/profile"
PROFILE_LAYER="$layer" cargo build --release --features profile --quiet
elf="$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release/attonet-qemu-kernels"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
timeout 600 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none \
    -serial none -semihosting-config enable=on,target=native \
    -icount shift=7,align=off,sleep=off -d in_asm,exec,nochain -D "$log" -kernel "$elf" >/dev/null
python3 - "$log" "$elf" "${2:-}" "${3:-}" <<'PY'
import bisect, collections, re, subprocess, sys
log, elf, lo, hi = sys.argv[1:5]
# A translation block is known by its host address: under -icount QEMU
# translates one guest address several times (blocks cut short at the
# instruction budget), so keying blocks by guest address counted the last
# translation's length for every execution (the totals were off by up to
# half). The first execution logged after an IN: block is that block's.
tbs, cur, pending, execs = {}, None, None, collections.Counter()
for line in open(log, errors='replace'):
    line = line.rstrip('\n')
    if line.startswith('IN:'):
        cur = []
        continue
    m = re.match(r'^0x([0-9a-f]+):\s+\S+\s+(.*)$', line)
    if m and cur is not None:
        cur.append((int(m.group(1), 16), m.group(2).strip()))
        continue
    if not line.strip() and cur:
        pending, cur = cur, None
        continue
    m = re.search(r'Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/', line)
    if m:
        host = m.group(1)
        if pending is not None and int(m.group(2), 16) == pending[0][0]:
            tbs[host], pending = pending, None
        execs[host] += 1
syms = []
nm = subprocess.run(['llvm-nm', '-C', '-n', elf], capture_output=True, text=True).stdout
for l in nm.splitlines():
    p = l.split(' ', 2)
    if len(p) == 3 and p[1] in 'tTwW':
        syms.append((int(p[0], 16) & ~1, p[2]))
syms.sort()
addrs = [a for a, _ in syms]
def sym(a):
    i = bisect.bisect_right(addrs, a) - 1
    return syms[i][1] if i >= 0 else '?'
per_sym, per_insn, total = collections.Counter(), collections.Counter(), 0
for host, n in execs.items():
    for a, t in tbs.get(host, []):
        per_sym[sym(a)] += n
        per_insn[(a, t)] += n
        total += n
print(f'{total} instructions')
for s, n in per_sym.most_common(20):
    print(f'{n:>10} {100 * n / total:5.1f}%  {s[:100]}')
if lo and hi:
    lo, hi = int(lo, 16), int(hi, 16)
    for (a, t), n in sorted(per_insn.items()):
        if lo <= a < hi:
            print(f'{a:08x} {n:>9}  {t}')
PY
