"""Helpers shared by the campaign, report and notebook tests (this module has no tests).

* :func:`dask_cluster`: a real ``dask scheduler`` and ``dask worker`` processes on
  127.0.0.1 at free ports, each in its own process group, always torn down.
* :func:`tiny_campaign`: the campaign of ``tests/data/tiny_campaign.toml`` simulated,
  analysed and reported once per test session through the ``labquake campaign`` command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
TINY_SPEC = DATA / "tiny_campaign.toml"
DASK = Path(sys.executable).with_name("dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds, reap it."""
    _kill_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@contextlib.contextmanager
def dask_cluster(n_workers: int = 2, log_dir: Path | None = None):
    """A dask scheduler and ``n_workers`` single-threaded workers, on loopback only.

    Yields a namespace with ``address``, ``workers`` (name -> Popen), ``procs`` (every
    process started) and ``kill(name)``.
    """
    procs: list[subprocess.Popen] = []
    logs = []

    def spawn(args: list[str], name: str) -> subprocess.Popen:
        out = open(log_dir / f"{name}.log", "w") if log_dir else subprocess.DEVNULL
        if log_dir:
            logs.append(out)
        p = subprocess.Popen([str(DASK), *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    try:
        spawn(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", f"127.0.0.1:{free_port()}"], "scheduler")
        workers = {
            f"w{i}": spawn(
                ["worker", address, "--name", f"w{i}", "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                 "--dashboard-address", "127.0.0.1:0", "--death-timeout", "60"],
                f"w{i}",
            )
            for i in range(n_workers)
        }
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(n_workers, timeout=120)

        def kill(name: str) -> None:
            _kill_group(workers[name])
            workers[name].wait(timeout=10)

        yield SimpleNamespace(address=address, workers=workers, kill=kill, procs=procs)
    finally:
        for p in reversed(procs):
            stop(p)
        for f in logs:
            f.close()


def labquake(*args: str | os.PathLike, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run the ``labquake`` command (this interpreter) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "labquake.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, **kw,
    )


def events(campaign_dir: Path) -> list[dict]:
    p = Path(campaign_dir) / "campaign.log.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def wait_for(predicate, timeout: float = 300, every: float = 0.1):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = predicate()
        if v:
            return v
        time.sleep(every)
    raise TimeoutError("condition not reached")


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file under ``root``: to prove results were left intact."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file()}


_SESSION: dict[str, object] = {}


def tiny_campaign(tmp_path_factory) -> SimpleNamespace:
    """The tiny campaign, computed once per session by ``labquake campaign`` (2 local workers)."""
    if "campaign" not in _SESSION:
        out = tmp_path_factory.mktemp("campaign") / "tiny"
        t0 = time.perf_counter()
        proc = labquake("campaign", TINY_SPEC, "--out", out, "--workers", "2", "--quiet")
        _SESSION["campaign"] = SimpleNamespace(dir=out, proc=proc, wall_s=time.perf_counter() - t0)
    return _SESSION["campaign"]
