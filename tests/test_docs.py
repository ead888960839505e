"""The documentation site builds with warnings as errors, on the tiny test campaign.

One build (``sphinx-build -W --keep-going``, as ``make docs`` but into a temporary folder)
executes the four notebooks and the page "Reproducing Ye, Lui & Young (2024)" against the
session's tiny campaign (:func:`test_campaign_support.tiny_campaign`); notebook 01
simulates one run of the tiny spec. The executed notebooks (myst-nb writes them to
``<build>/jupyter_execute``) are checked as the notebook tests checked them (this file
replaces ``test_notebooks.py``, so the notebooks run once per test session), and the
site is checked for what a newcomer looks for: where the smooth-joint law is, what
``slips.parquet`` and ``events.parquet`` hold, how to run on a cluster, and a page for
every public module.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_campaign_support import ROOT, TINY_SPEC, tiny_campaign

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")
nbformat = pytest.importorskip("nbformat")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> SimpleNamespace:
    """The site built once for this module, with its timing."""
    campaign = tiny_campaign(tmp_path_factory)
    assert campaign.proc.returncode == 0, campaign.proc.stdout + campaign.proc.stderr
    tmp = tmp_path_factory.mktemp("docs")
    out = tmp / "html"
    env = dict(os.environ, MPLBACKEND="Agg", LABQUAKE_DOCS_CAMPAIGN=str(campaign.dir),
               LABQUAKE_DOCS_CONFIG=str(TINY_SPEC), LABQUAKE_DOCS_RUN_DIR=str(tmp / "run"),
               LABQUAKE_DOCS_BANDWIDTH="100")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-d", str(tmp / "doctrees"),
         str(DOCS), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=840,
    )
    wall = time.perf_counter() - t0
    print(f"\ndocs build: {wall:.0f} s (tiny campaign: {campaign.wall_s:.0f} s)")
    return SimpleNamespace(proc=proc, out=out, executed=tmp / "jupyter_execute", run_dir=tmp / "run",
                           campaign=campaign.dir, wall_s=wall)


def page(site, name: str) -> str:
    """The visible text of a built page: tags removed (so highlighted code reads as written),
    entities unescaped, typographic quotes made plain, runs of white space made one space."""
    text = (site.out / f"{name}.html").read_text(encoding="utf-8")
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", text, flags=re.S)
    text = re.sub(r"</(p|div|li|td|th|tr|h[1-6]|pre|dt|dd)>", " ", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2026": "..."}))
    return " ".join(text.split())


def search_index(site) -> dict:
    text = (site.out / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1: text.rindex(")")])


def docs_for(index: dict, term: str) -> set[str]:
    """Pages the search box finds for one word (as Sphinx's English stemmer indexes it)."""
    hits = index["terms"].get(term, [])
    hits = [hits] if isinstance(hits, int) else hits
    title_hits = index["titleterms"].get(term, [])
    title_hits = [title_hits] if isinstance(title_hits, int) else title_hits
    return {index["docnames"][i] for i in [*hits, *title_hits]}


def test_site_builds_without_warnings(site):
    assert site.proc.returncode == 0, (site.proc.stdout[-5000:] + "\n" + site.proc.stderr[-8000:])
    problems = [ln for ln in site.proc.stderr.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", ln)
                and "[IPKernelApp]" not in ln]
    assert not problems, "\n".join(problems[:40])
    for name in ("index", "getting-started", "concepts/index", "concepts/run-directory", "concepts/campaign-spec",
                 "concepts/contact-laws", "concepts/calibration", "howto/import-pfc", "howto/cluster", "howto/render",
                 "howto/add-contact-law", "reproduce", "cli", "api", "changelog", "citing", "physics", "ae", "contracts",
                 "cycles", "dem-api", "energy", "healing", "stick-slip"):
        assert (site.out / f"{name}.html").is_file(), name


# ---------------------------------------------------------------------------------------
# The notebooks, executed by the docs build (formerly tests/test_notebooks.py)
# ---------------------------------------------------------------------------------------


def executed(site, name: str) -> nbformat.NotebookNode:
    path = site.executed / "notebooks" / name
    assert path.is_file(), f"{name} was not executed by the docs build"
    return nbformat.read(path, as_version=4)


def outputs(nb) -> str:
    text = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            text.append(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def errors(nb) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def test_01_single_run(site):
    nb = executed(site, "01_single_run.ipynb")
    assert not errors(nb)
    assert (site.run_dir / "meta.json").exists()  # the tiny spec, into the run directory the build was given
    assert "complete" in outputs(nb)
    assert images(nb) >= 3  # loading curve, cracks, AE


def test_02_campaign_analysis(site):
    nb = executed(site, "02_campaign_analysis.ipynb")
    assert not errors(nb)
    assert str(site.campaign) in outputs(nb)  # the campaign the build was pointed at
    assert images(nb) >= 5  # KDF, clouds, distances, dendrograms, B_k
    assert "p_holm" in outputs(nb)


def test_03_contact_forces_3d(site):
    nb = executed(site, "03_contact_forces_3d.ipynb")
    assert not errors(nb)
    assert "records" in outputs(nb)
    assert images(nb) >= 2  # force records, and the 3D view (static image without trame)


def test_04_forecasting(site):
    nb = executed(site, "04_forecasting.ipynb")
    assert not errors(nb)
    text = outputs(nb)
    assert "coverage on 500 synthetic sequences" in text and "gradient boosting" in text
    assert images(nb) >= 5  # EVT, departure, Molchan (twice), TTF, consensus


def test_notebook_pages_show_their_outputs(site):
    for name in ("01_single_run", "02_campaign_analysis", "03_contact_forces_3d", "04_forecasting"):
        text = (site.out / "notebooks" / f"{name}.html").read_text(encoding="utf-8")
        assert text.count("<img") >= 2 and "cell_output" in text, name


# ---------------------------------------------------------------------------------------
# What a newcomer looks for
# ---------------------------------------------------------------------------------------


def test_smooth_joint_law_is_findable(site):
    index = search_index(site)
    assert "concepts/contact-laws" in docs_for(index, "smooth")
    laws = page(site, "concepts/contact-laws")
    assert "labquake/sim/dem/laws/smooth_joint.py" in laws
    assert "labquake.sim.dem.laws.smooth_joint" in laws  # the generated table of law modules
    api = page(site, "api/generated/labquake.sim.dem.laws.smooth_joint")
    assert "smooth_joint_trial" in api and "Smooth joint" in api
    assert any(o.startswith("labquake.sim.dem.laws.smooth_joint") for o in objects(index))


def test_run_directory_tables_are_generated_from_the_schemas(site):
    from labquake.io.rundir import SCHEMAS

    text = page(site, "concepts/run-directory")
    for table, columns in SCHEMAS.items():
        assert f"{table}.parquet" in text, table
        for col in columns:
            assert col.name in text, (table, col.name)
            if col.unit:
                assert " ".join(col.unit.split()) in text, (table, col.name, col.unit)
    assert "slips.parquet holds the slip events of the fault" in text
    assert "events.parquet holds the AE catalog" in text
    index = search_index(site)
    for title in ("slips.parquet: stick-slip events", "events.parquet: acoustic-emission events"):
        assert title in index["alltitles"], title
        assert index["docnames"][index["alltitles"][title][0][0]] == "concepts/run-directory", title
    # the analysis tables of the campaign the site was built from
    for f in sorted((site.campaign / "analysis").glob("*.parquet")):
        assert f"analysis/{f.name}" in text, f.name


def test_cluster_howto_is_findable(site):
    index = search_index(site)
    assert "howto/cluster" in docs_for(index, "cluster")
    text = page(site, "howto/cluster")
    assert "--scheduler tcp://host:8786" in text and "dask worker" in text
    assert "--scheduler" in page(site, "cli")


def test_concept_pages_are_generated_from_the_code(site):
    from labquake.campaign import CAMPAIGN_OPTIONS
    from labquake.sim.config import DEFAULTS

    spec = page(site, "concepts/campaign-spec")
    for table, options in CAMPAIGN_OPTIONS.items():
        for name in options:
            assert name in spec, (table, name)
    for section in ("specimen", "rock", "fault", "loading"):
        for key in DEFAULTS[section]:
            assert f"{section}.{key}" in spec, (section, key)
    cal = page(site, "concepts/calibration")
    for toml in sorted((ROOT / "simulations").glob("*.toml")):
        for line in toml.read_text().splitlines():
            if line.lstrip("# ").startswith("[cal]"):
                assert f"simulations/{toml.name}" in cal, toml.name
    assert "fault.residual_friction" in cal and "rock.modulus" in cal


def objects(index: dict) -> set[str]:
    """Every documented Python object of the search index, by full name."""
    names = set()
    for prefix, entries in index["objects"].items():
        for entry in entries:
            names.add(f"{prefix}.{entry[-1]}" if prefix else entry[-1])
    return names


def test_api_reference_covers_every_public_module(site):
    import labquake

    index = search_index(site)
    documented = objects(index)
    modules = ["labquake"] + [m.name for m in pkgutil.walk_packages(labquake.__path__, "labquake.")
                              if not any(part.startswith("_") for part in m.name.split("."))]
    for name in modules:
        assert (site.out / "api" / "generated" / f"{name}.html").is_file(), f"no API page for {name}"
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", ()):
            obj = getattr(mod, attr)
            if getattr(obj, "__module__", None) == name and (callable(obj) or isinstance(obj, type)):
                assert f"{name}.{attr}" in documented, f"{name}.{attr} is not in the API reference"
    assert not [p for p in (site.out / "api" / "generated").glob("*.html")
                if any(part.startswith("_") for part in p.stem.split("."))], "a private module has an API page"


def test_reproduce_page_is_computed_from_the_campaign(site):
    from labquake.io.rundir import find_runs
    from labquake.report import REFERENCE

    nb = nbformat.read(site.executed / "reproduce.ipynb", as_version=4)
    assert not errors(nb)
    text = page(site, "reproduce")
    assert str(site.campaign) in text
    for run in find_runs(site.campaign):
        assert run.name in text, run.name
    for ref in REFERENCE.values():
        assert f"{ref.lo:g}–{ref.hi:g}" in text, ref.label
    assert "KS p" in text and "reference mean" in text
    assert images(nb) >= 2  # loading curves, distributions against the reference


def test_build_time(site):
    """The site (with the notebooks) builds within the test suite's budget on two cores."""
    assert site.wall_s < 600, f"the docs build took {site.wall_s:.0f} s"


# ---------------------------------------------------------------------------------------
# The docs extension's pieces (fast, no build)
# ---------------------------------------------------------------------------------------


@pytest.fixture()
def ext(monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS / "_ext"))
    return importlib.import_module("labquake_docs")


def _fake_campaign(path: Path, status: str = "complete") -> Path:
    (path / "analysis").mkdir(parents=True)
    (path / "campaign.json").write_text(json.dumps({"runs": {"run-01": {"status": status}}, "stage_errors": {}}))
    return path


def test_campaign_choice(ext, tmp_path, monkeypatch):
    from sphinx.errors import ExtensionError

    monkeypatch.setattr(ext, "REPO", tmp_path)
    monkeypatch.delenv(ext.CAMPAIGN_ENV, raising=False)
    assert not ext.campaign_complete(_fake_campaign(tmp_path / "runs" / "paper27", status="failed"))
    quick = _fake_campaign(tmp_path / "runs" / "quick")
    assert ext.campaign_complete(quick)
    assert ext.resolve_campaign(tmp_path / "build") == quick.resolve()  # paper27 incomplete: runs/quick

    monkeypatch.setenv(ext.CAMPAIGN_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ExtensionError, match="not a campaign directory"):
        ext.resolve_campaign(tmp_path / "build")
    monkeypatch.setenv(ext.CAMPAIGN_ENV, "runs/paper27")  # relative to the repository; used even if incomplete
    assert ext.resolve_campaign(tmp_path / "build") == (tmp_path / "runs" / "paper27").resolve()

    # neither complete: the quick campaign is simulated into <build>/campaign
    monkeypatch.delenv(ext.CAMPAIGN_ENV)
    (quick / "campaign.json").unlink()
    calls = []

    def fake_run(args, cwd, check):
        calls.append(args)
        _fake_campaign(Path(args[args.index("--out") + 1]))
        return subprocess.CompletedProcess(args, 0)

    monkeypatch.setattr(ext.subprocess, "run", fake_run)
    out = ext.resolve_campaign(tmp_path / "build")
    assert out == (tmp_path / "build" / "campaign").resolve()
    assert calls and calls[0][1:5] == ["-m", "labquake.cli", "campaign", "simulations/quick.toml"]
    assert ext.resolve_campaign(tmp_path / "build") == out and len(calls) == 1  # complete now: reused


def test_notebook_copies_mark_the_parameters_cell(ext, tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell('import os\nCAMPAIGN_DIR = os.environ.get("LABQUAKE_DOCS_CAMPAIGN", "runs/quick")',
                                  metadata={"tags": ["parameters"]})])
    nbformat.write(nb, src / "a.ipynb")
    monkeypatch.setenv("LABQUAKE_DOCS_CAMPAIGN", "/somewhere")
    (copy,) = ext.copy_notebooks(src, tmp_path / "dst", "abc123")
    cell = nbformat.read(copy, as_version=4).cells[1]
    assert cell.source.splitlines()[-1] == "# docs build: LABQUAKE_DOCS_CAMPAIGN='/somewhere'; campaign abc123"
    mtime = copy.stat().st_mtime_ns
    ext.copy_notebooks(src, tmp_path / "dst", "abc123")
    assert copy.stat().st_mtime_ns == mtime  # unchanged content is not rewritten (no re-execution)
    ext.copy_notebooks(src, tmp_path / "dst", "def456")
    assert "def456" in nbformat.read(copy, as_version=4).cells[1].source


def test_cal_notes_and_magnitudes(ext, tmp_path):
    toml = tmp_path / "x.toml"
    toml.write_text("[rock]\n# [cal] E* 130 -> 140 GPa: the intact\n# modulus came out low\nmodulus = 140e9\n"
                    "# see paper.toml [cal] (a mention, not a note)\nfriction = 0.5\n")
    assert ext.cal_notes(toml) == [("rock.modulus", "140e9", "E* 130 -> 140 GPa: the intact modulus came out low")]
    assert ext.escape_magnitudes("|F_s| <= mu F_n, ``|x|``") == "\\|F_s\\| <= mu F_n, ``|x|``"
    assert ext.escape_magnitudes("| a line block") == "| a line block"
