"""The exploration on a Ray cluster: `--ray ADDRESS` trains each candidate as
a Ray task on whichever node has room, instead of in this process.

`RayPool` has TrainPool's interface (`add(job, on_done)`, `run()`), so the
generator/inquisitor loop in explore.py is unchanged: it proposes, the pool
trains, each result comes back through `on_done` and the loop decides from it.

- Address: "local" starts an embedded Ray on this machine; "auto" joins the
  cluster this machine is part of (`ray start` ran here, or RAY_ADDRESS);
  HOST:PORT joins the head started with `ray start --head --port PORT`.
- Resources a candidate asks for (`Resources`): CPUs, a GPU fraction when the
  cluster has GPUs, memory. Before anything is submitted the cluster must
  have a node that can hold one candidate; while training, a candidate that
  waits on resources no live node has is an error after `pending_timeout`.
- Data: the training arrays go into Ray's object store once per pool (one
  `ray.put`), not pickled per task.
- Files: where the run folder (`--out`) is visible at the same path on every
  node (a shared filesystem, or one machine), each candidate writes its
  checkpoints, model and result there as in a local run. Where it is not
  (a probe task per node checks, before the first candidate), the files
  travel through the driver: a `RunFolder` actor on the driver's node holds
  the folder, a candidate trains in a temporary folder on its node, fetches
  its earlier files from the actor first and sends each checkpoint and its
  results to it. Either way state.json, written by the driver only, stays
  the single source of truth for `--resume`.
- Faults: a worker or node that dies mid-training is retried up to `retries`
  times by Ray; the retry resumes from the candidate's last checkpoint (which
  restores the data order's random state too, so on CPU the result is the
  one without the fault). A candidate that keeps failing, or raises, comes
  back as {"name", "error"} like a failed local training, and is recorded so.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


class ClusterError(RuntimeError):
    """The cluster cannot run the exploration (unreachable, too small, no
    shared run folder); the message names what is missing."""


@dataclass
class Resources:
    """What one candidate's training asks of a node."""
    cpus: float = 1.0
    gpus: float | None = None  # None: 0.25 of a GPU when the cluster has GPUs, else none
    memory_gb: float = 2.0

    def describe(self):
        return (f"{self.cpus:g} CPU, {self.gpus or 0:g} GPU and "
                f"{self.memory_gb:g} GB of memory")


def _ray():
    try:
        import ray
    except ImportError as e:
        raise ClusterError(f"--ray needs the `ray` package in this environment ({e}); "
                           f"pip install -r models/requirements.txt") from e
    return ray


def _check_reachable(address, wait_s):
    """HOST:PORT must answer within `wait_s`; ray.init would otherwise retry
    for a long time before saying the same thing less clearly."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--ray {address!r}: expected HOST:PORT (the head's GCS address, "
                           f"`ray start --head --port PORT`), `auto` or `local`")
    deadline = time.time() + wait_s
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=min(5.0, wait_s)).close()
            return
        except OSError as e:
            if time.time() >= deadline:
                raise ClusterError(
                    f"--ray {address}: no Ray head answers at {host}:{port} after "
                    f"{wait_s:.0f} s ({e}); start one with `ray start --head --port {port}` "
                    f"or check the address") from None
            time.sleep(1.0)


def stage_code(root: Path) -> Path:
    """A copy of the `models.design` package (Python files and configs only:
    not its tests nor the runs carried in `runs/`, carry.py) for the
    workers' `py_modules`: the nodes need not have the repository."""
    src = Path(__file__).resolve().parent
    dst = root / "models" / "design"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests",
                                                            "runs"))
    return root / "models"


class RayPool:
    """TrainPool's interface on a Ray cluster (see the module docstring)."""

    def __init__(self, address, out, log=print, resources: Resources | None = None,
                 retries=3, pending_timeout=600.0, connect_wait=15.0, files="auto"):
        """files: "shared" (every node must see `out`), "driver" (the files
        travel through the driver), "auto" (shared where the probe finds
        every node sees it, else through the driver)."""
        if files not in ("auto", "shared", "driver"):
            raise ClusterError(f"files {files!r}: expected auto, shared or driver")
        self.ray = ray = _ray()
        self.log = log
        self.res = resources or Resources()
        self.retries = retries
        self.pending_timeout = pending_timeout
        self.out = Path(out).resolve()
        self._stage = Path(tempfile.mkdtemp(prefix="attonet_ray_code_"))
        runtime_env = {"py_modules": [str(stage_code(self._stage))],
                       "env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self.address = address
        self._probe = ray.remote(_probe_fn)
        self._train_task = ray.remote(_train_fn)
        try:
            if address == "local":
                ray.init(address="local", include_dashboard=False, log_to_driver=False,
                         runtime_env=runtime_env, configure_logging=False)
            else:
                if address != "auto":
                    _check_reachable(address, connect_wait)
                ray.init(address=address, log_to_driver=False, runtime_env=runtime_env,
                         configure_logging=False)
        except ClusterError:
            shutil.rmtree(self._stage, ignore_errors=True)
            raise
        except Exception as e:  # ConnectionError, RuntimeError, ValueError from ray.init
            shutil.rmtree(self._stage, ignore_errors=True)
            raise ClusterError(f"--ray {address}: could not join the cluster: {e}") from e
        try:
            if self.res.gpus is None:
                self.res.gpus = 0.25 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
            self.device = "cuda" if self.res.gpus else "cpu"
            self._check_capacity(first=True)
            self.store = None
            blind = self._nodes_without_out() if files != "driver" else ["(not probed)"]
            if blind and files == "shared":
                raise ClusterError(
                    f"--ray {self.address}: the run folder {self.out} is not visible from "
                    f"node(s) {', '.join(blind)} (--ray-files shared: every node must see "
                    f"--out at the same path)")
            if blind:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
                here = ray.get_runtime_context().get_node_id()
                self.store = ray.remote(num_cpus=0)(RunFolder).options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
                    name=f"attonet-run-folder-{uuid.uuid4().hex[:8]}").remote(str(self.out))
                log(f"[ray] the run folder is not shared with node(s) {', '.join(blind)}: "
                    f"candidates' files travel through the driver")
        except BaseException:
            self.shutdown()
            raise
        self._refs = {}     # id(arrays) -> (arrays, ObjectRef): one put per data set
        self.pending = {}   # ObjectRef -> (job, on_done, submitted)
        self.done = 0
        self.seconds = 0.0  # training seconds of the candidates done
        nodes = self.alive_nodes()
        log(f"[ray] {address}: {len(nodes)} node(s), "
            f"{sum(n['Resources'].get('CPU', 0) for n in nodes):g} CPU, "
            f"{sum(n['Resources'].get('GPU', 0) for n in nodes):g} GPU; "
            f"each candidate asks {self.res.describe()}; device {self.device}")

    # ---- the cluster ---------------------------------------------------
    def alive_nodes(self):
        return [n for n in self.ray.nodes() if n.get("Alive")]

    def _fits(self, node):
        r = node.get("Resources", {})
        return (r.get("CPU", 0) >= self.res.cpus and r.get("GPU", 0) >= (self.res.gpus or 0)
                and r.get("memory", 0) >= self.res.memory_gb * 2 ** 30)

    def _check_capacity(self, first=False):
        nodes = self.alive_nodes()
        if any(self._fits(n) for n in nodes):
            return True
        have = "; ".join(
            f"{n.get('NodeManagerAddress')}: {n['Resources'].get('CPU', 0):g} CPU, "
            f"{n['Resources'].get('GPU', 0):g} GPU, "
            f"{n['Resources'].get('memory', 0) / 2 ** 30:.1f} GB" for n in nodes) or "none alive"
        msg = (f"--ray {self.address}: no node can hold a candidate, which asks "
               f"{self.res.describe()} (nodes: {have}); add a node or lower "
               f"--ray-cpus / --ray-gpus / --ray-memory")
        if first:
            raise ClusterError(msg)
        return msg

    def _nodes_without_out(self):
        """The nodes that do not see --out at the same path (a probe file
        written here, read by a task pinned to each node)."""
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        self.out.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        probe = self.out / f".ray-probe-{token}"
        probe.write_text(token)
        try:
            nodes = self.alive_nodes()
            refs = [self._probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
                n["NodeID"], soft=False)).remote(str(probe)) for n in nodes]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=120)
            blind = []
            for n, ref in zip(nodes, refs):
                seen = ray.get(ref) if ref in ready else None
                if seen != token:
                    blind.append(n.get("NodeManagerAddress", n["NodeID"][:8]))
            return blind
        finally:
            probe.unlink(missing_ok=True)

    def slots(self):
        """How many candidates the live nodes hold at once."""
        n = 0
        for node in self.alive_nodes():
            r = node.get("Resources", {})
            fit = [r.get("CPU", 0) / self.res.cpus,
                   r.get("memory", 0) / (self.res.memory_gb * 2 ** 30)]
            if self.res.gpus:
                fit.append(r.get("GPU", 0) / self.res.gpus)
            n += int(min(fit) + 1e-9)
        return max(1, n)

    def time_left(self):
        """The candidates submitted and not done, at the mean time a candidate
        took so far, over the slots the cluster has (an estimate)."""
        if not self.done:
            return 0.0
        return self.seconds / self.done * math.ceil(len(self.pending) / self.slots())

    # ---- TrainPool's interface ------------------------------------------
    def _arrays_ref(self, arrays):
        key = id(arrays)
        if key not in self._refs:
            self._refs[key] = (arrays, self.ray.put(arrays))
        return self._refs[key][1]

    def add(self, job, on_done=None):
        job = dict(job)
        arrays = self._arrays_ref(job.pop("arrays"))
        job["out"] = str(job["out"])
        rel = None
        if self.store is not None:
            try:
                rel = Path(job["out"]).resolve().relative_to(self.out).as_posix()
            except ValueError:
                raise ClusterError(f"{job['out']}: a candidate's folder outside the run "
                                   f"folder {self.out}") from None
        opts = dict(num_cpus=self.res.cpus, memory=int(self.res.memory_gb * 2 ** 30),
                    max_retries=self.retries, retry_exceptions=False)
        if self.res.gpus:
            opts["num_gpus"] = self.res.gpus
        ref = self._train_task.options(**opts).remote(job, arrays, self.device,
                                                 max(1, int(self.res.cpus)), self.store, rel)
        now = time.time()
        self.pending[ref] = (job, on_done, now)

    def run(self):
        ray = self.ray
        from ray.exceptions import RayError, RayTaskError
        starved_since = None
        while self.pending:
            ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=10.0)
            if not ready:
                msg = self._check_capacity()
                if msg is True:
                    starved_since = None
                    continue
                starved_since = starved_since or time.time()
                if time.time() - starved_since > self.pending_timeout:
                    self.cancel()
                    raise ClusterError(msg + f" (waited {self.pending_timeout:.0f} s)")
                continue
            starved_since = None
            for ref in ready:
                job, on_done, t0 = self.pending.pop(ref)
                tag = job.get("tag")
                try:
                    result = ray.get(ref)
                    where = result.pop("_ray", {})
                    self.done += 1
                    took = where.get("seconds", time.time() - t0)
                    self.seconds += took
                    self.log(f"[ray] {tag}: acc {result.get('final_acc')} on "
                             f"{where.get('host', '?')} (attempt {where.get('attempt', 1)}) in "
                             f"{took:.0f} s; {self.done} done, {len(self.pending)} running or "
                             f"queued, about {self.time_left():.0f} s left for them")
                except RayTaskError as e:  # the training raised: not retried
                    self.log(f"[ray] {tag}: FAILED: {e.cause!r}")
                    result = {"name": tag, "error": repr(e.cause)}
                except RayError as e:  # worker or node died more than `retries` times
                    self.log(f"[ray] {tag}: FAILED after {self.retries} retries: {e}")
                    result = {"name": tag, "error": f"{type(e).__name__}: {e}"}
                if on_done is not None:
                    on_done(result)

    def cancel(self):
        for ref in list(self.pending):
            self.ray.cancel(ref, force=True)
        self.pending.clear()

    def shutdown(self):
        if self.ray.is_initialized():
            self.ray.shutdown()
        shutil.rmtree(self._stage, ignore_errors=True)


def _probe_fn(path):
    try:
        return Path(path).read_text()
    except OSError:
        return None


class RunFolder:
    """The run folder on the driver's machine, for workers that cannot see it
    (a Ray actor pinned to the driver's node): candidates read their earlier
    files from it and send it their checkpoints and results. Paths are
    relative to the folder and may not leave it; writes are atomic."""

    def __init__(self, root):
        self.root = Path(root).resolve()

    def _path(self, rel):
        p = (self.root / rel).resolve()
        if self.root not in p.parents:
            raise ValueError(f"{rel}: outside the run folder {self.root}")
        return p

    def read(self, rel):
        p = self._path(rel)
        return p.read_bytes() if p.is_file() else None

    def write(self, rel, data):
        p = self._path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, p)


# A candidate's files that a retry or a resumed run needs, and its results.
CANDIDATE_FILES = ("ckpt.pt", "result.json", "model.pt", "train.log", "worker.json")


def _train_fn(job, arrays, device, threads, store=None, rel=None):
    """One candidate's training on a worker; writes worker.json (pid, node,
    attempt) into the candidate's folder first, so an operator (or the fault
    test) can find the process. With `store` (a RunFolder) it trains in a
    temporary folder of its node, filled from the store first and sent
    back to it at every checkpoint and at the end."""
    import ray
    import torch
    if device == "cpu":
        torch.set_num_threads(threads)
    if store is None:
        out = Path(job["out"])
        out.mkdir(parents=True, exist_ok=True)
    else:
        out = Path(tempfile.mkdtemp(prefix="attonet_candidate_"))
        for name in CANDIDATE_FILES:
            data = ray.get(store.read.remote(f"{rel}/{name}"))
            if data is not None:
                (out / name).write_bytes(data)

    def send(*names):
        if store is not None:
            ray.get([store.write.remote(f"{rel}/{n}", (out / n).read_bytes())
                     for n in names if (out / n).exists()])
    try:
        return _train_in(job, arrays, device, out, send)
    finally:
        if store is not None:
            shutil.rmtree(out, ignore_errors=True)


def _train_in(job, arrays, device, out, send):
    import ray
    ctx = ray.get_runtime_context()
    info_path = out / "worker.json"
    attempt = 1
    if info_path.exists():
        try:
            attempt = json.loads(info_path.read_text()).get("attempt", 0) + 1
        except (OSError, ValueError):
            pass
    info = {"pid": os.getpid(), "node": ctx.get_node_id(), "host": socket.gethostname(),
            "attempt": attempt, "started": time.time()}
    tmp = info_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, info_path)
    send("worker.json")
    from .train import train
    with open(out / "train.log", "a") as fh:
        def log(s):
            fh.write(s + "\n")
            fh.flush()
        result, _ = train(job["spec"], arrays, job["cfg"], out, device=device,
                          resume=job.get("resume", False), log=log, tag=job.get("tag"),
                          teacher=job.get("teacher"), init=job.get("init"),
                          on_checkpoint=lambda _: send("ckpt.pt", "train.log"))
    send("model.pt", "train.log", "result.json")  # result.json last: the candidate is done
    result["_ray"] = {"host": info["host"], "attempt": attempt,
                      "seconds": time.time() - info["started"]}
    return result


def add_arguments(p):
    """The `--ray` options of the `explore` and `family` commands."""
    p.add_argument("--ray", metavar="ADDRESS",
                   help="train candidates on a Ray cluster: HOST:PORT of the head "
                   "(`ray start --head`), `auto` (the cluster this machine joined) or `local` "
                   "(an embedded Ray here); --out must be visible to every node")
    p.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs a candidate asks for")
    p.add_argument("--ray-gpus", type=float, default=None,
                   help="GPU fraction a candidate asks for (default 0.25 if the cluster has GPUs)")
    p.add_argument("--ray-memory", type=float, default=2.0, help="GB of memory a candidate asks for")
    p.add_argument("--ray-retries", type=int, default=3,
                   help="times a candidate whose worker or node died is retried")
    p.add_argument("--ray-pending-timeout", type=float, default=600.0,
                   help="seconds candidates may wait for resources no live node has")
    p.add_argument("--ray-files", choices=["auto", "shared", "driver"], default="auto",
                   help="candidates' files: in --out on a filesystem every node shares, or "
                   "through the driver (auto: shared where every node sees --out)")


def pool_from_args(a, out, log):
    """A RayPool for `--ray`, or None (the local TrainPool)."""
    if not getattr(a, "ray", None):
        return None
    if a.ray_cpus <= 0 or (a.ray_gpus is not None and a.ray_gpus < 0) or a.ray_memory <= 0 \
            or a.ray_retries < 0:
        raise ClusterError("--ray-cpus and --ray-memory must be positive, --ray-gpus and "
                           "--ray-retries not negative")
    return RayPool(a.ray, out, log=log,
                   resources=Resources(a.ray_cpus, a.ray_gpus, a.ray_memory),
                   retries=a.ray_retries, pending_timeout=a.ray_pending_timeout,
                   files=getattr(a, "ray_files", "auto"))
