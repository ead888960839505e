"""Campaigns on a real dask cluster (a scheduler and two worker processes on 127.0.0.1).

Every run is a real, tiny simulation (tests/data/tiny_campaign.toml).
"""

from __future__ import annotations

import threading
from collections import Counter

import psutil
import pytest
from test_campaign_support import TINY_SPEC, dask_cluster, events, wait_for

from labquake.campaign import scheduling as batch
from labquake.io.rundir import TABLES, RunDirectory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(2, log_dir=tmp_path_factory.mktemp("dask-logs")) as c:
        yield c


def listening(processes) -> list:
    """(pid, address) of every listening TCP socket of ``processes`` and their children."""
    procs = {p.pid: p for q in processes for p in (q, *q.children(recursive=True))}
    return [(pid, c.laddr) for pid, p in procs.items() for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]


def assert_complete_with_all_files(rd: RunDirectory) -> None:
    meta = rd.read_meta()
    assert meta["status"] == "complete", (rd.name, meta.get("error"))
    assert meta["files"], rd.name
    for f in meta["files"]:
        assert (rd.path / f).is_file(), f"{rd.name}: listed file {f} missing"
    for table in TABLES:
        if rd.has_table(table):
            rd.read_table(table)  # readable and matching its schema
    assert not rd.checkpoint_dir.exists()


def test_campaign_completes_and_a_failing_run_is_recorded(cluster, tmp_path):
    tiny = batch.load_campaign(TINY_SPEC)
    assert len(tiny.runs) >= 6
    # the tiny campaign plus a run whose specimen file does not exist: simulate raises,
    # that run is recorded as failed and all the others complete
    raw = {k: v for k, v in batch.read_toml(TINY_SPEC).items() if k != "campaign"}
    runs = [r.overrides for r in tiny.runs] + [{"specimen.file": str(tmp_path / "missing.npz")}]
    spec = batch.expand_campaign({**raw, "campaign": {"name": "mixed", "runs": runs}}, source=TINY_SPEC)
    *good, bad = spec.runs
    out = tmp_path / "c"
    res = batch.run_campaign(spec, out, scheduler=cluster.address, analysis=False, report=False, progress=False)

    assert res.status == {**{r.name: "complete" for r in good}, bad.name: "failed"}
    assert sorted(res.computed) == sorted(r.name for r in good)
    for r in good:
        assert_complete_with_all_files(RunDirectory(out / r.name))
        assert RunDirectory(out / r.name).read_config() == r.config  # the resolved config, seed included
    meta = RunDirectory(out / bad.name).read_meta()
    assert meta["status"] == "failed" and "missing.npz" in meta["error"] and "\n" not in meta["error"]
    assert "missing.npz" in res.errors[bad.name]
    assert (out / "logs" / f"{bad.name}.log").read_text().count("Traceback") == 1
    assert batch.read_state(out)["runs"][bad.name]["status"] == "failed"
    # the test cluster (scheduler, workers, their nannies and dashboards) is on loopback only
    socks = listening([psutil.Process(p.pid) for p in cluster.procs])
    assert len(socks) >= 6 and all(a.ip == "127.0.0.1" for _, a in socks), socks


def test_killing_a_worker_mid_campaign(cluster, tmp_path):
    spec = batch.load_campaign(TINY_SPEC)
    out = tmp_path / "c"
    out.mkdir()
    victim: dict[str, str] = {}

    def in_flight():
        started, ended = Counter(), Counter()
        for e in events(out):
            if e["event"] == "start":
                started[(e["worker"], e["run"])] += 1
            elif e["event"] in ("computed", "failed"):
                ended[(e["worker"], e["run"])] += 1
        busy = [k for k in started if started[k] > ended[k]]
        done = sum(ended.values())
        return busy if busy and done >= 1 else None

    def killer():
        busy = wait_for(in_flight, timeout=240, every=0.05)
        worker, run = busy[0]
        victim.update(worker=worker, run=run)
        cluster.kill(worker)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    res = batch.run_campaign(spec, out, scheduler=cluster.address, analysis=False, report=False, progress=False)
    t.join(timeout=30)
    assert victim, "no worker was killed"
    assert res.ok, res.errors
    ev = events(out)
    computed = Counter(e["run"] for e in ev if e["event"] == "computed")
    # each run simulated to completion exactly once, the interrupted one too
    assert computed == Counter({r.name: 1 for r in spec.runs})
    starts = Counter(e["run"] for e in ev if e["event"] == "start")
    assert starts[victim["run"]] >= 2
    for r in spec.runs:
        assert_complete_with_all_files(RunDirectory(out / r.name))


def test_local_cluster_listens_on_loopback_only():
    from distributed import Client

    me = psutil.Process()
    others = {p.pid for p in me.children(recursive=True)}  # e.g. the module's dask cluster
    cluster = batch.local_cluster(2)
    try:
        with Client(cluster) as client:
            client.wait_for_workers(2, timeout=60)
            socks = [(pid, a) for pid, a in listening([me]) if pid not in others]
            assert len(socks) >= 4  # scheduler, dashboard, and each worker (+ nanny)
            assert all(a.ip == "127.0.0.1" for _, a in socks), socks
            assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
            assert all(w["host"] == "127.0.0.1" for w in client.scheduler_info()["workers"].values())
    finally:
        cluster.close()
