"""A long CPU run carried across machines in the repository.

The family's training on these 2 cores takes hours (the Fashion-MNIST
family about 5 of both cores), longer than one session on one machine. With
`family --carry-run DIR`, the run keeps in DIR (a folder of the repository,
committed at the end of a session) what it needs to go on where it stopped
on another machine: a fresh checkout runs the same command, DIR is copied
into the run folder first (`restore`), and the run resumes from it.

What is carried (`wanted`), and nothing else (DIR stays a few MB):
* every exploration's `state.json` (its candidates' results, the generator's
  random state) and `candidates.csv`, and the run's `trained.json`;
* every run's `result.json`;
* the trained weights (`model.pt`) of the runs later stages read: the
  finalists (`explore/<budget>/final/<name>`), the baselines and the
  distillation stages;
* the checkpoint (`ckpt.pt`) of every run still in progress (no
  `result.json` yet): its weights, optimizer buffers and the data order's
  random state, so it resumes at the epoch it reached, on any machine with
  the same thread count, as if never stopped.

A candidate that finished after its exploration last wrote `state.json`
trains again on the next machine (its weights are not carried). Files are
copied whole and atomically (a temporary file, then a rename), the
checkpoints and weights before the results and the states, so a copy taken
at any moment never names a result whose files are missing. A background
thread syncs every `every` seconds and once more when the run ends.
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

# Files over this are not carried (said in the log): a git repository is
# not the place for them.
MAX_FILE = 8 << 20
STATES = ("state.json", "candidates.csv", "trained.json")
# Runs whose weights a later stage reads (relative to the run folder).
KEEP_WEIGHTS = ("explore/*/final/*", "baselines/*", "distill/*")


def wanted(root):
    """The files of run folder `root` to carry, relative paths in copy
    order: checkpoints and weights, then results, then states."""
    root = Path(root)
    weights, results, states = [], [], []
    keep = {d for pattern in KEEP_WEIGHTS for d in root.glob(pattern) if d.is_dir()}
    for f in sorted(root.rglob("*")):
        if not f.is_file():
            continue
        run = f.parent
        done = (run / "result.json").exists()
        if f.name == "ckpt.pt" and not done:
            weights.append(f)
        elif f.name == "model.pt" and run in keep and done:
            weights.append(f)
        elif f.name == "result.json":
            results.append(f)
        elif f.name in STATES:
            states.append(f)
    return [f.relative_to(root) for f in weights + results + states]


def _copy(src, dst):
    """`src` over `dst` atomically (a temporary file, then a rename)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def _same(a, b):
    return b.exists() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def sync(root, carry, log=print):
    """Copies `wanted(root)` into `carry` (changed files only) and removes
    what `carry` holds that is no longer wanted (the checkpoint of a run
    that has since finished). Returns (copied, removed)."""
    root, carry = Path(root), Path(carry)
    keep = set()
    copied = 0
    for rel in wanted(root):
        src = root / rel
        try:
            size = src.stat().st_size
        except FileNotFoundError:  # gone since it was listed (a run moved on)
            continue
        if size > MAX_FILE:
            log(f"[carry] {rel}: {size / 1e6:.1f} MB, over {MAX_FILE >> 20} MB: not carried")
            continue
        keep.add(rel)
        dst = carry / rel
        if not _same(src, dst):
            _copy(src, dst)
            copied += 1
    removed = 0
    if carry.exists():
        for f in sorted(carry.rglob("*")):
            if f.is_file() and f.relative_to(carry) not in keep:
                f.unlink()
                removed += 1
    return copied, removed


def restore(carry, root, log=print):
    """Copies what `carry` holds into run folder `root` where `root` lacks
    it (a fresh machine); files already there are the newer run's and
    stay. Returns the number copied."""
    carry, root = Path(carry), Path(root)
    if not carry.exists():
        return 0
    n = 0
    for f in sorted(carry.rglob("*")):
        if f.is_file() and not f.name.endswith(".tmp"):
            dst = root / f.relative_to(carry)
            if not dst.exists():
                _copy(f, dst)
                n += 1
    if n:
        log(f"[carry] restored {n} files from {carry} into {root}")
    return n


class Carrier:
    """Syncs run folder `root` into `carry` every `every` seconds on a
    background thread, and once more at `stop()`."""

    def __init__(self, root, carry, every=600.0, log=print):
        self.root, self.carry, self.every, self.log = Path(root), Path(carry), every, log
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="carry", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def sync(self, last=False):
        with self._lock:
            copied, removed = sync(self.root, self.carry, self.log)
        if copied or removed or last:
            self.log(f"[carry] {self.carry}: {copied} files copied, {removed} removed"
                     + (" (the run's last sync)" if last else ""))

    def _loop(self):
        while not self._stop.wait(self.every):
            try:
                self.sync()
            except OSError as e:  # a full disk must not stop the training
                self.log(f"[carry] sync failed: {e}")

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.sync(last=True)
