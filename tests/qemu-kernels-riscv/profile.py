#!/usr/bin/env python3
"""Instruction counts per function and per instruction from a QEMU
`-d in_asm,exec,nochain` log: each executed translation block adds one to
every instruction it holds.

    profile.py LOG ELF [MIN_COUNT]
"""
import bisect
import collections
import re
import subprocess
import sys

log, elf = sys.argv[1], sys.argv[2]
min_count = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
blocks = {}  # first address -> addresses of its instructions
execs = collections.Counter()
pat_exec = re.compile(r"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
pat_insn = re.compile(r"^0x([0-9a-f]+):\s")
cur = None
with open(log, errors="replace") as f:
    for line in f:
        if line.startswith("IN:"):
            cur = []
            continue
        m = pat_insn.match(line)
        if m and cur is not None:
            cur.append(int(m.group(1), 16))
            continue
        if cur:
            blocks[cur[0]] = cur
        cur = None
        m = pat_exec.search(line)
        if m:
            execs[int(m.group(1), 16)] += 1
if cur:
    blocks[cur[0]] = cur

per_insn = collections.Counter()
for start, n in execs.items():
    for a in blocks.get(start, []):
        per_insn[a] += n
total = sum(per_insn.values())

syms = []
nm = subprocess.run(["llvm-nm", "-C", "--defined-only", elf], capture_output=True, text=True).stdout
for line in nm.splitlines():
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[1] in "tT" and not parts[2].startswith("."):
        syms.append((int(parts[0], 16), parts[2]))
syms.sort()
starts = [s[0] for s in syms]
per_fn = collections.Counter()
for a, n in per_insn.items():
    i = bisect.bisect_right(starts, a) - 1
    per_fn[syms[i][1] if i >= 0 else "?"] += n

print(f"{total} instructions")
for name, n in per_fn.most_common(12):
    print(f"{n:>10} {100 * n / total:5.1f}%  {name[:100]}")

dis = {}
out = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", elf], capture_output=True, text=True).stdout
for line in out.splitlines():
    m = re.match(r"^([0-9a-f]+):\s+(.*)$", line)
    if m:
        dis[int(m.group(1), 16)] = m.group(2)
print(f"\ninstructions executed at least {min_count} times:")
for a in sorted(per_insn):
    if per_insn[a] >= min_count:
        print(f"{a:x} {per_insn[a]:>9} {dis.get(a, '')}")
