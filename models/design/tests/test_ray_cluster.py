"""The exploration on a real two-node Ray cluster on the loopback address
(a head and a worker node, each started with `ray start --num-cpus 1`):

- the exploration runs through it, its candidates spread over both nodes, a
  worker killed (SIGKILL, by its process id) in the middle of a candidate's
  training is retried, resumes from the candidate's checkpoint, and the
  exploration ends with the same candidates, accuracies and finalists as the
  same exploration trained in this process without Ray (one thread a
  training in both: on CPU that makes the two bit-identical);
- a candidate whose training raises, or whose worker keeps dying, comes back
  recorded as failed with its error after a bounded number of tries;
- an unreachable address and a candidate no node can hold are clear errors
  within a bounded wait.

Synthetic data (data.smoke_data), CPU. Ray must be installed (it is in
models/requirements.txt): without it these tests fail, they do not skip."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from models.design import data as D
from models.design import explore as X

ROOT = Path(__file__).resolve().parents[3]
RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]
ENV = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")

CONFIG = {
    "requirements": {"min_acc": 0.0, "max_macs": 4e6, "max_params": 60e3},
    "generations": 2, "population": 2, "elite": 1,
    # 4 epochs of 16 steps with a checkpoint after each: a worker can be
    # killed after the first checkpoint and before the end
    "proxy": {"epochs": 4, "val_split": 128, "batch": 128, "lr": 0.1, "ckpt_every": 1,
              "eval_every": 4},
    "final": {"top_k": 1, "epochs": 2, "batch": 128, "lr": 0.1, "val_split": 128},
    "seed": 0,
}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if cond():
                return
        except ConnectionError:  # the head is still starting
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s")


def _alive_nodes(address):
    import ray
    ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        return [n for n in ray.nodes() if n.get("Alive")]
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def cluster():
    import secrets
    # The cluster's own token (Ray's token authentication), for its nodes,
    # this process's drivers and the CLI's; the user's ~/.ray is not used.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)  # before Ray is imported: it reads them once
    ENV.update(auth)
    try:
        import ray  # noqa: F401
    except ImportError as e:
        pytest.fail(f"ray is not installed ({e}): pip install -r models/requirements.txt")
    port = _free_port()
    # short: Ray's unix socket paths live under it (at most 107 bytes)
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
              "--object-store-memory", str(256 * 2 ** 20), "--temp-dir", str(temp), "--block"]
    procs = []

    def start(args, log):
        p = subprocess.Popen(RAY_CLI + ["start"] + args + common, env=ENV,
                             stdout=open(temp / log, "w"), stderr=subprocess.STDOUT,
                             start_new_session=True)
        procs.append(p)
        return p

    try:
        start(["--head", "--port", str(port), "--include-dashboard=false"], "head.log")
        address = f"127.0.0.1:{port}"
        _wait("the head's port", lambda: _connects(port), 90)
        start(["--address", address], "worker.log")
        _wait("two live nodes", lambda: len(_alive_nodes(address)) == 2, 90)
        yield SimpleNamespace(address=address, temp=temp)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
            ENV.pop(k, None)
        for p in procs:  # each node's processes are in its own session
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)


def _connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _candidates(out):
    """The candidates' run folders under `out` (OUT/proxy/NAME, ...; not the
    files of OUT/cost-cache)."""
    return sorted(f for f in out.glob("*/*") if f.is_dir())


def _worker_info(folder):
    try:
        return json.loads((folder / "worker.json").read_text())
    except (OSError, ValueError):
        return None


class Killer(threading.Thread):
    """Kills, once each, the worker of a candidate that has written a
    checkpoint but not its result (`times` kills of one candidate, when
    `times` > 1: every retry of it again)."""

    def __init__(self, runs, times=1, after_ckpt=True):
        super().__init__(daemon=True)
        self.runs, self.times, self.after_ckpt = runs, times, after_ckpt
        self.killed = []  # (folder, pid, attempt)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and len(self.killed) < self.times:
            for f in _candidates(self.runs):
                info = _worker_info(f)
                if info is None or (f / "result.json").exists():
                    continue
                if self.after_ckpt and not (f / "ckpt.pt").exists():
                    continue
                if self.killed and (self.killed[0][0] != f or
                                    info["attempt"] <= self.killed[-1][2]):
                    continue  # one candidate only; each attempt once
                try:
                    os.kill(info["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.killed.append((f, info["pid"], info["attempt"]))
                break
            time.sleep(0.05)


def _summary(state):
    return ([(r["id"], r["acc"], r["generation"]) for r in state["records"]],
            [(r["name"], r["acc"]) for r in state["finals"]])


def _arrays():
    return D.smoke_data(2048 + 128, 64)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The reference: the same exploration in this process, without Ray,
    one thread a training (as each Ray candidate: --ray-cpus 1)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.time()
        state = X.Explorer(CONFIG, tmp_path_factory.mktemp("local"), "cpu", _arrays(),
                           log=lambda s: None).run()
        return state, time.time() - t0
    finally:
        torch.set_num_threads(threads)


def test_two_nodes_a_killed_worker_and_the_same_finalists(cluster, local_run, tmp_path):
    from models.design.cluster import RayPool, Resources
    arrays = _arrays()
    log = []
    local, t_local = local_run
    pool = RayPool(cluster.address, tmp_path / "ray", log=log.append,
                   resources=Resources(cpus=1, gpus=None, memory_gb=0.5), retries=2)
    killer = Killer(tmp_path / "ray")
    try:
        killer.start()
        t0 = time.time()
        on_ray = X.Explorer(CONFIG, tmp_path / "ray", "cpu", arrays, log=log.append,
                            pool=pool).run()
        t_ray = time.time() - t0
    finally:
        killer.stop.set()
        pool.shutdown()
    print(f"local {t_local:.1f} s, two nodes {t_ray:.1f} s; killed {killer.killed}")
    assert killer.killed, "no worker was killed mid-training (the test did not test the fault)"
    folder, pid, _ = killer.killed[0]
    assert _worker_info(folder)["attempt"] == 2 and _worker_info(folder)["pid"] != pid
    assert "resumed at epoch" in (folder / "train.log").read_text()
    # Both nodes trained candidates.
    nodes = {_worker_info(f)["node"] for f in _candidates(tmp_path / "ray")}
    assert len(nodes) == 2, nodes
    # The same exploration, as if nothing had happened.
    assert _summary(on_ray) == _summary(local)
    assert on_ray["finals"] and all(r.get("acc") is not None for r in on_ray["finals"])


def test_without_a_shared_folder_the_files_travel_through_the_driver(cluster, local_run,
                                                                      tmp_path):
    """--ray-files driver: each candidate trains in a temporary folder of its
    node and its checkpoints and results reach --out through the driver's
    RunFolder actor; a killed worker's retry resumes from the checkpoint it
    sent there."""
    from models.design.cluster import RayPool, Resources
    log = []
    pool = RayPool(cluster.address, tmp_path / "ray", log=log.append, files="driver",
                   resources=Resources(cpus=1, gpus=0, memory_gb=0.5), retries=2)
    killer = Killer(tmp_path / "ray")
    try:
        killer.start()
        on_ray = X.Explorer(CONFIG, tmp_path / "ray", "cpu", _arrays(), log=log.append,
                            pool=pool).run()
    finally:
        killer.stop.set()
        pool.shutdown()
    assert any("travel through the driver" in line for line in log), log
    assert killer.killed
    folder = killer.killed[0][0]
    assert _worker_info(folder)["attempt"] == 2
    assert "resumed at epoch" in (folder / "train.log").read_text()
    for f in _candidates(tmp_path / "ray"):
        assert {"ckpt.pt", "model.pt", "result.json", "train.log"} <= {x.name for x in f.iterdir()}
    assert _summary(on_ray) == _summary(local_run[0])


DRIVER = """
import sys
from models.design import data as D, explore as X
from models.design.cluster import RayPool, Resources
cfg = {config}
pool = RayPool(sys.argv[1], sys.argv[2], resources=Resources(1, 0, 0.5))
try:
    X.Explorer(cfg, sys.argv[2], "cpu", D.smoke_data(2048 + 128, 64), pool=pool,
               resume=True).run()
finally:
    pool.shutdown()
"""


def test_the_driver_killed_and_resumed_ends_as_if_never_stopped(cluster, local_run, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-c", DRIVER.format(config=repr(CONFIG)), cluster.address, str(out)]
    driver = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)

    def second_generation_training():
        try:
            state = json.loads((out / "state.json").read_text())
        except (OSError, ValueError):
            return False
        return state["generation"] >= 1 and any(
            (out / "proxy" / r).glob("ckpt.pt") for r in
            {p.name for p in (out / "proxy").iterdir()} - {r["name"] for r in state["records"]})

    try:
        _wait("a checkpoint of the second generation", second_generation_training, 300)
        os.killpg(driver.pid, signal.SIGKILL)  # the driver, mid-generation
        driver.wait(timeout=30)
        p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    resumed = json.loads((out / "state.json").read_text())
    assert _summary(resumed) == _summary(local_run[0])


def test_a_failing_candidate_is_recorded_after_bounded_tries(cluster, tmp_path):
    from models.design import arch as A
    from models.design.cluster import RayPool, Resources
    from models.design.train import TrainCfg
    arrays = D.smoke_data(2048 + 128, 64)
    spec = A.family_seeds()[0]
    log = []
    pool = RayPool(cluster.address, tmp_path, log=log.append,
                   resources=Resources(cpus=1, gpus=0, memory_gb=0.5), retries=1)
    results = {}
    long = TrainCfg(epochs=50, batch=128, lr=0.1, val_split=128, ckpt_every=1, bf16=False)
    killer = Killer(tmp_path, times=2)  # the first try and its one retry
    try:
        pool.add(dict(spec=spec, arrays=arrays, cfg=long, out=tmp_path / "runs" / "dies",
                      tag="dies", resume=True), lambda r: results.__setitem__("dies", r))
        pool.add(dict(spec=spec, arrays=arrays, cfg=long, tag="raises", resume=True,
                      out=tmp_path / "other" / "raises", init=tmp_path / "no-such.pt"),
                 lambda r: results.__setitem__("raises", r))
        killer.start()
        pool.run()
    finally:
        killer.stop.set()
        pool.shutdown()
    assert len(killer.killed) == 2
    assert "error" in results["dies"] and "WorkerCrashed" in results["dies"]["error"], results
    assert "error" in results["raises"] and "no-such.pt" in results["raises"]["error"], results
    # An exception in the training is not retried.
    assert _worker_info(tmp_path / "other" / "raises")["attempt"] == 1


def _explore(*args, timeout=120):
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "models.design", "explore", "--smoke", *args],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    return p, time.time() - t0


def test_unreachable_address_is_a_clear_error(tmp_path):
    port = _free_port()  # nothing listens there
    p, took = _explore("--ray", f"127.0.0.1:{port}", "--out", str(tmp_path / "x"))
    assert p.returncode != 0 and took < 60
    assert f"no Ray head answers at 127.0.0.1:{port}" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    p, _ = _explore("--ray", "nonsense", "--out", str(tmp_path / "y"))
    assert p.returncode != 0 and "expected HOST:PORT" in p.stderr, p.stderr


def test_a_candidate_no_node_can_hold_is_a_clear_error(cluster, tmp_path):
    p, took = _explore("--ray", cluster.address, "--ray-cpus", "4", "--out", str(tmp_path / "x"))
    assert p.returncode != 0 and took < 90
    assert "no node can hold a candidate, which asks 4 CPU" in p.stderr, p.stderr
    assert ": 1 CPU, 0 GPU" in p.stderr, p.stderr  # what each node has
    p, _ = _explore("--ray", cluster.address, "--ray-gpus", "1", "--out", str(tmp_path / "y"))
    assert p.returncode != 0 and "asks 1 CPU, 1 GPU" in p.stderr, p.stderr
