"""Sphinx extension of the labquake documentation site.

It does three things at build time, so that no page copies a number or a column list by
hand:

* **The campaign.** The notebooks and the page "Reproducing Ye, Lui & Young (2024)" are
  executed against one campaign directory: ``$LABQUAKE_DOCS_CAMPAIGN`` when set, else
  ``runs/paper27`` when that campaign is complete, else ``runs/quick`` when complete,
  else one made by ``labquake campaign simulations/quick.toml --out <build>/campaign``.
  The chosen directory is put back into ``LABQUAKE_DOCS_CAMPAIGN``, which the Jupyter
  kernels inherit.
* **The notebooks.** ``notebooks/*.ipynb`` are copied into ``docs/notebooks/`` (a
  generated, git-ignored folder) for myst-nb to execute. The copy's ``parameters`` cell
  gets one comment line naming the campaign and a fingerprint of its results, so that
  the execution cache and Sphinx's incremental build both notice a different campaign.
* **Directives** that render tables from the code's own objects:

  ``labquake-schema`` (a run-directory table of :data:`labquake.io.rundir.SCHEMAS`),
  ``labquake-analysis-tables`` (the ``analysis/*.parquet`` files of the docs campaign),
  ``labquake-config-defaults`` (:data:`labquake.sim.config.DEFAULTS` and its comments),
  ``labquake-campaign-options`` (the ``[campaign]`` keys and typed options),
  ``labquake-cal-notes`` (every ``[cal]`` comment of ``simulations/*.toml``),
  ``labquake-calibration-targets`` (:data:`labquake.sim.calibrate.TARGETS`),
  ``labquake-contact-laws`` (the modules of :mod:`labquake.sim.dem.laws`) and
  ``labquake-cli`` (the ``--help`` of every ``labquake`` sub-command).

Each directive records the source files it read as dependencies of its page, so an
incremental build re-reads the page when they change.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: the repository root (docs/_ext/ is two levels below it)
REPO = Path(__file__).resolve().parents[2]
#: environment variable naming the campaign directory the executed pages show
CAMPAIGN_ENV = "LABQUAKE_DOCS_CAMPAIGN"
#: campaign directories tried, in order, when the variable is unset (relative to the repo)
CAMPAIGN_CANDIDATES = ("runs/paper27", "runs/quick")
#: the spec simulated when no candidate is complete
FALLBACK_SPEC = "simulations/quick.toml"
#: the notebooks copied into the site, and where they go (relative to the source dir)
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK_DIR = "notebooks"
#: mark added to the parameters cell of a copied notebook
_COPY_MARK = "# docs build:"


# --------------------------------------------------------------------------------------
# The campaign
# --------------------------------------------------------------------------------------


def campaign_complete(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a campaign whose runs all completed and were analysed.

    Read from ``campaign.json`` (written by :mod:`labquake.campaign`): every run
    ``complete``, no stage error, and an ``analysis/`` folder.
    """
    path = Path(path)
    try:
        state = json.loads((path / "campaign.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    runs = state.get("runs") or {}
    return (bool(runs) and all(r.get("status") == "complete" for r in runs.values())
            and not state.get("stage_errors") and (path / "analysis").is_dir())


def resolve_campaign(build_root: Path) -> Path:
    """The campaign directory of this build (see the module docstring).

    Raises
    ------
    ExtensionError
        ``LABQUAKE_DOCS_CAMPAIGN`` names no campaign directory, or the fallback campaign
        could not be simulated.
    """
    value = os.environ.get(CAMPAIGN_ENV, "").strip()
    if value:
        path = Path(value).expanduser()
        path = (path if path.is_absolute() else REPO / path).resolve()
        if not (path / "campaign.json").is_file():
            raise ExtensionError(f"{CAMPAIGN_ENV}={value}: not a campaign directory (no campaign.json); "
                                 "run `labquake campaign SPEC --out DIR` first or unset the variable")
        return path
    for cand in CAMPAIGN_CANDIDATES:
        if campaign_complete(REPO / cand):
            return (REPO / cand).resolve()
    out = (build_root / "campaign").resolve()
    if not campaign_complete(out):
        logger.info(f"labquake docs: no complete campaign in {', '.join(CAMPAIGN_CANDIDATES)}; "
                    f"simulating {FALLBACK_SPEC} into {out} (a few minutes)")
        proc = subprocess.run([sys.executable, "-m", "labquake.cli", "campaign", FALLBACK_SPEC, "--out", str(out),
                               "--quiet"], cwd=REPO, check=False)
        if proc.returncode != 0 or not campaign_complete(out):
            raise ExtensionError(f"`labquake campaign {FALLBACK_SPEC} --out {out}` did not complete (exit "
                                 f"{proc.returncode}); fix it or set {CAMPAIGN_ENV} to a campaign directory")
    return out


def campaign_fingerprint(path: Path) -> str:
    """A short hash of the campaign's state and analysis files (names, sizes, mtimes)."""
    h = hashlib.sha1(str(path).encode())
    for f in [path / "campaign.json", *sorted((path / "analysis").glob("*.parquet"))]:
        try:
            st = f.stat()
        except OSError:
            continue
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


_ENV_REF = re.compile(r"""os\.environ\.get\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


def copy_notebooks(src: Path, dst: Path, fingerprint: str) -> list[Path]:
    """Copy ``src/*.ipynb`` into ``dst``, marking each ``parameters`` cell.

    The mark is one comment line with the value of every environment variable the cell
    reads and the campaign ``fingerprint``. A copy whose content would not change is not
    rewritten (its mtime stays, so Sphinx does not re-read it); copies without a source
    are removed.
    """
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for nb_path in sorted(src.glob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                names = sorted(set(_ENV_REF.findall(source)))
                values = ", ".join(f"{n}={os.environ[n]!r}" if n in os.environ else f"{n} unset" for n in names)
                cell["source"] = source.rstrip("\n") + f"\n{_COPY_MARK} {values or 'no variables'}; campaign {fingerprint}"
                break
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        out = dst / nb_path.name
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            out.write_text(text, encoding="utf-8")
        written.append(out)
    for stale in set(dst.glob("*.ipynb")) - set(written):
        stale.unlink()
    return written


def _builder_inited(app: Sphinx) -> None:
    build_root = Path(app.outdir).parent
    campaign = resolve_campaign(build_root)
    os.environ[CAMPAIGN_ENV] = str(campaign)
    os.environ.setdefault("MPLBACKEND", "Agg")
    app.labquake_campaign = campaign  # type: ignore[attr-defined]
    app.labquake_fingerprint = campaign_fingerprint(campaign)  # type: ignore[attr-defined]
    logger.info(f"labquake docs: campaign {campaign} ({app.labquake_fingerprint})")  # type: ignore[attr-defined]
    copy_notebooks(NOTEBOOKS, Path(app.srcdir) / NOTEBOOK_DIR, app.labquake_fingerprint)  # type: ignore[attr-defined]


def _env_get_outdated(app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str],
                      removed: set[str]) -> list[str]:
    """Pages that show the campaign are re-read when the campaign changed."""
    fp = getattr(app, "labquake_fingerprint", None)
    if getattr(env, "labquake_fingerprint", None) == fp:
        return []
    env.labquake_fingerprint = fp  # type: ignore[attr-defined]
    return [d for d in app.config.labquake_campaign_pages if d in env.found_docs and d not in added]


# --------------------------------------------------------------------------------------
# Table helpers
# --------------------------------------------------------------------------------------


def _cell(content: Any) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(content, nodes.Node):
        entry += content if isinstance(content, nodes.paragraph) else nodes.paragraph("", "", content)
    elif isinstance(content, list):
        para = nodes.paragraph()
        for item in content:
            para += item if isinstance(item, nodes.Node) else nodes.Text(str(item))
        entry += para
    else:
        entry += nodes.paragraph(text=str(content))
    return entry


def make_table(header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int] | None = None,
               classes: Sequence[str] = ()) -> nodes.table:
    """A docutils table; a cell is text, a node or a list of text and nodes."""
    table = nodes.table(classes=["labquake-table", *classes])
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths or [1] * len(header):
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    row = nodes.row()
    for h in header:
        row += _cell(h)
    head += row
    group += head
    body = nodes.tbody()
    for r in rows:
        tr = nodes.row()
        for c in r:
            tr += _cell(c)
        body += tr
    group += body
    return table


def lit(text: str) -> nodes.literal:
    """Inline code."""
    return nodes.literal(text=str(text))


class _Directive(SphinxDirective):
    """A directive that imports labquake and records what it read."""

    def depend_on(self, *objects: Any) -> None:
        for obj in objects:
            path = obj if isinstance(obj, (str, Path)) else inspect.getsourcefile(obj)
            if path:
                self.env.note_dependency(str(Path(path).resolve()))

    def module(self, name: str):
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:
            raise self.error(f"{self.name}: cannot import {name}: {exc}") from None
        self.depend_on(mod)
        return mod


# --------------------------------------------------------------------------------------
# Run-directory and analysis tables
# --------------------------------------------------------------------------------------

_KINDS = {"i": "integer", "f": "float", "b": "bool", "s": "string"}


class SchemaTable(_Directive):
    """The columns of one run-directory table, from :data:`labquake.io.rundir.SCHEMAS`.

    Option ``:extra: module:NAME`` lists the columns of that sequence (or of that class's
    ``COLUMNS``) beyond the schema: written by a simulation, optional for readers.
    """

    required_arguments = 1
    option_spec = {"extra": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        rundir = self.module("labquake.io.rundir")
        name = self.arguments[0]
        if name not in rundir.SCHEMAS:
            raise self.error(f"{self.name}: unknown table {name!r}; the schemas are {', '.join(rundir.SCHEMAS)}")
        derived = rundir.DERIVED.get(name, {})
        rows = []
        for col in rundir.SCHEMAS[name]:
            notes = [col.unit] if col.unit else []
            if col.allowed:
                notes.append("one of " + ", ".join(col.allowed))
            if col.undefined_ok:
                notes.append("NaN where undefined")
            if col.name in derived:
                notes.append("derived from the other columns when a producer leaves it out")
            rows.append([lit(col.name), _KINDS[col.kind], "; ".join(notes)])
        out: list[nodes.Node] = [make_table(["column", "type", "unit and meaning"], rows, widths=[3, 2, 10])]
        if "extra" in self.options:
            modname, _, attr = self.options["extra"].partition(":")
            obj = getattr(self.module(modname), attr, None)
            cols = getattr(obj, "COLUMNS", obj)
            if not isinstance(cols, (tuple, list)):
                raise self.error(f"{self.name}: {self.options['extra']} is not a sequence of column names")
            known = {c.name for c in rundir.SCHEMAS[name]}
            extra = [c for c in cols if c not in known]
            if extra:
                para = nodes.paragraph()
                para += nodes.Text(f"Also written by a simulation ({modname}.{attr}; optional for readers): ")
                for i, c in enumerate(extra):
                    para += lit(c)
                    para += nodes.Text(", " if i < len(extra) - 1 else ".")
                out.append(para)
        return out


class AnalysisTables(_Directive):
    """Every ``analysis/*.parquet`` of the docs campaign: rows, columns and their dtypes."""

    def run(self) -> list[nodes.Node]:
        import pyarrow.parquet as pq

        campaign = Path(os.environ.get(CAMPAIGN_ENV, ""))
        adir = campaign / "analysis"
        files = sorted(adir.glob("*.parquet")) if adir.is_dir() else []
        if not files:
            raise self.error(f"{self.name}: no analysis/*.parquet under {campaign}")
        rows = []
        for f in files:
            meta = pq.read_metadata(f)
            schema = meta.schema.to_arrow_schema()
            cols = []
            for i, field in enumerate(schema):
                cols += [lit(field.name), f" ({field.type})" + (", " if i < len(schema) - 1 else "")]
            rows.append([lit(f"analysis/{f.name}"), str(meta.num_rows), cols])
        para = nodes.paragraph(text=f"Read at build time from {campaign.name}/analysis/ (the campaign these pages "
                                    "were built from); row counts depend on the campaign.")
        return [para, make_table(["file", "rows", "columns (Arrow type)"], rows, widths=[4, 1, 12])]


# --------------------------------------------------------------------------------------
# Configs, campaign specs, calibration
# --------------------------------------------------------------------------------------


def _defaults_comments(source: str) -> dict[str, str]:
    """``section.key`` -> the comment written beside (or just above) it in ``DEFAULTS``."""
    start = source.find("DEFAULTS")
    lines = source[start:].splitlines()
    out: dict[str, str] = {}
    section: list[str] = []
    pending: list[str] = []
    depth = 0
    key_re = re.compile(r'^\s*"([A-Za-z0-9_]+)"\s*:\s*(.*)$')
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        m = key_re.match(line)
        if m:
            key, rest = m.groups()
            code, _, comment = rest.partition("  #")
            if code.rstrip().endswith("{"):
                section.append(key)
                depth += 1
                pending = []
                continue
            text = " ".join([*pending, comment.strip()]).strip()
            out[".".join([*section, key])] = text
            pending = []
            continue
        if stripped.startswith("}"):
            if depth == 0:
                break
            depth -= 1
            section.pop()
            pending = []
    return out


class ConfigDefaults(_Directive):
    """Every key of a run config with its default and the comment beside it in the code."""

    def run(self) -> list[nodes.Node]:
        cfg = self.module("labquake.sim.config")
        comments = _defaults_comments(inspect.getsource(cfg))
        rows = []

        def walk(d: dict[str, Any], prefix: str) -> None:
            for k, v in d.items():
                if isinstance(v, dict):
                    walk(v, f"{prefix}{k}.")
                else:
                    rows.append([lit(f"{prefix}{k}"), lit(repr(v)), comments.get(f"{prefix}{k}", "")])

        walk(cfg.DEFAULTS, "")
        return [make_table(["key", "default", "note (from labquake.sim.config.DEFAULTS)"], rows, widths=[4, 3, 10])]


class CampaignOptions(_Directive):
    """The keys of ``[campaign]`` and the typed options of its sub-tables."""

    def run(self) -> list[nodes.Node]:
        spec = self.module("labquake.campaign.spec")
        para = nodes.paragraph()
        para += nodes.Text("Keys of [campaign] (labquake.campaign.spec.CAMPAIGN_KEYS): ")
        for i, k in enumerate(spec.CAMPAIGN_KEYS):
            para += lit(k)
            para += nodes.Text(", " if i < len(spec.CAMPAIGN_KEYS) - 1 else ".")
        rows = [[lit(f"[campaign.{table}]"), lit(name), opt.describe()]
                for table, options in spec.CAMPAIGN_OPTIONS.items() for name, opt in options.items()]
        return [para, make_table(["table", "option", "accepts"], rows, widths=[3, 3, 8])]


_TABLE_RE = re.compile(r"^\s*\[([A-Za-z0-9_.\"-]+)\]\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\"-]+)\s*=\s*(.*?)\s*(#.*)?$")


def cal_notes(path: Path) -> list[tuple[str, str, str]]:
    """``(parameter, value, note)`` for every ``# [cal]`` comment block of a TOML file.

    A block runs from a comment line that starts with ``[cal]`` to the next line that is not a
    comment; the parameter is the first key after it (within the table in effect), the
    value as written in the file.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    table = ""
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _TABLE_RE.match(line)
        if m:
            table = m.group(1)
        if line.lstrip().startswith("#") and line.lstrip().lstrip("#").strip().startswith("[cal]"):
            note = []
            while i < len(lines) and lines[i].lstrip().startswith("#"):
                note.append(lines[i].lstrip().lstrip("#").strip())
                i += 1
            key, value = "", ""
            for j in range(i, len(lines)):
                if _TABLE_RE.match(lines[j]):
                    table = _TABLE_RE.match(lines[j]).group(1)
                    continue
                km = _KEY_RE.match(lines[j])
                if km:
                    key, value = km.group(1), km.group(2)
                    break
            text = " ".join(note).replace("[cal]", "").strip()
            out.append((f"{table}.{key}" if table else key, value, text))
            continue
        i += 1
    return out


class CalNotes(_Directive):
    """Every ``[cal]`` comment of ``simulations/*.toml``, with the parameter it explains."""

    def run(self) -> list[nodes.Node]:
        rows = []
        for path in sorted((REPO / "simulations").glob("*.toml")):
            self.depend_on(path)
            for param, value, note in cal_notes(path):
                rows.append([lit(f"simulations/{path.name}"), [lit(param), " = ", lit(value)], note])
        if not rows:
            raise self.error(f"{self.name}: no [cal] comment in simulations/*.toml")
        return [make_table(["file", "parameter", "why it differs from the reference's input"], rows,
                           widths=[3, 4, 12])]


class CalibrationTargets(_Directive):
    """The intact-rock properties ``labquake calibrate`` reports, with their reference targets."""

    def run(self) -> list[nodes.Node]:
        cal = self.module("labquake.sim.calibrate")
        rows = []
        for prop in cal.PROPERTIES:
            if prop in cal.TARGETS:
                lo, hi, text = cal.TARGETS[prop]
                target = f"{lo:g} to {hi:g} ({text})"
            else:
                target = cal.REFERENCE_ONLY.get(prop, "")
                target = f"reference {target} (no acceptance band)" if target else "no reference value"
            rows.append([lit(prop), target])
        return [make_table(["property (calibration.json)", "reference target"], rows, widths=[4, 8])]


# --------------------------------------------------------------------------------------
# Contact laws and the command line
# --------------------------------------------------------------------------------------


class ContactLaws(_Directive):
    """The public modules of ``labquake.sim.dem.laws``: the law (first docstring paragraph)
    and where it lives (module and file)."""

    def run(self) -> list[nodes.Node]:
        laws = self.module("labquake.sim.dem.laws")
        rows = []
        for info in pkgutil.iter_modules(laws.__path__):
            if info.name.startswith("_"):
                continue
            mod = self.module(f"{laws.__name__}.{info.name}")
            path = Path(inspect.getsourcefile(mod)).resolve().relative_to(REPO).as_posix()
            first = " ".join((inspect.getdoc(mod) or "").split("\n\n")[0].split())
            first = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", first).replace("``", "")  # plain text
            ref = addnodes.pending_xref("", lit(mod.__name__), refdomain="py", reftype="mod",
                                        reftarget=mod.__name__, refexplicit=True)
            rows.append([first, [ref, nodes.Text(" in "), lit(path)]])
        return [make_table(["law", "module and file"], rows, widths=[10, 7])]


class CliHelp(_Directive):
    """``labquake --help`` and the help of every sub-command, as literal blocks."""

    def run(self) -> list[nodes.Node]:
        cli = self.module("labquake.cli")
        os.environ["COLUMNS"] = "100"
        out: list[nodes.Node] = []
        top = cli.build_parser(selected="")
        out += [nodes.rubric(text="labquake"), nodes.literal_block(text=top.format_help())]
        for name, modname in cli.COMMANDS.items():
            parser = cli.build_parser(selected=name)
            sub = next(a for a in parser._subparsers._group_actions if hasattr(a, "choices")).choices.get(name)  # noqa: SLF001
            if sub is None:
                continue
            self.depend_on(self.module(f"labquake.commands.{modname}"))
            target = nodes.target("", "", ids=[f"cli-{name}"], names=[f"cli-{name}"])
            self.env.get_domain("std").note_hyperlink_target(f"cli-{name}", self.env.docname, f"cli-{name}",
                                                             f"labquake {name}")
            out += [target, nodes.rubric(text=f"labquake {name}"), nodes.literal_block(text=sub.format_help())]
        return out


class Reexports(_Directive):
    """The names of a package's ``__all__`` that are defined elsewhere.

    A name defined in a public module is listed with a link to where it is documented; a
    name defined in a private module (``_*``, not in the API pages) is documented here.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        from sphinx.util.docutils import switch_source_input
        from docutils.statemachine import StringList

        modname = self.arguments[0]
        mod = self.module(modname)
        links, here = [], []
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            home = getattr(obj, "__module__", None)
            if obj is None or inspect.ismodule(obj) or home in (None, modname) or name.startswith("__"):
                continue
            if any(part.startswith("_") for part in home.split(".")):
                here.append((name, obj))
            else:
                links.append((name, f"{home}.{getattr(obj, '__qualname__', name)}"))
        out: list[nodes.Node] = []
        if links:
            out.append(nodes.rubric(text="Also importable from here"))
            para = nodes.paragraph()
            for i, (name, target) in enumerate(links):
                para += addnodes.pending_xref("", lit(f"{modname}.{name}"), refdomain="py", reftype="obj",
                                              reftarget=target, refexplicit=True)
                para += nodes.Text(", " if i < len(links) - 1 else ".")
            out.append(para)
        if here:
            lines = ["", ".. rubric:: Defined in private modules, public here", ""]
            for name, obj in here:
                kind = ("autoexception" if isinstance(obj, type) and issubclass(obj, BaseException)
                        else "autoclass" if isinstance(obj, type) else "autofunction" if callable(obj) else "autodata")
                lines += [f".. {kind}:: {modname}.{name}", ""]
                if kind == "autoclass":
                    lines[-1:] = ["   :members:", ""]
            container = nodes.container()
            with switch_source_input(self.state, StringList(lines, source=self.get_source_info()[0] or "")):
                self.state.nested_parse(StringList(lines), 0, container)
            out += container.children
        return out


# --------------------------------------------------------------------------------------
# Docstrings: numba functions, and |x| for a magnitude
# --------------------------------------------------------------------------------------

#: ``|F_s|`` in a docstring is a magnitude in plain-text maths, but reStructuredText reads
#: it as a substitution reference; outside inline literals and maths it is escaped
_MAGNITUDE = re.compile(r"(?<![\\|`])\|(?=[^\s|`])([^|`\n]*?[^\s|`\\])\|(?![|`_\w])")
_PROTECTED = re.compile(r"(``.*?``|:math:`[^`]*`|`[^`]*`)")


def escape_magnitudes(line: str) -> str:
    """``line`` with each plain-text ``|x|`` escaped as ``\\|x\\|`` (literals and maths untouched)."""
    stripped = line.strip()
    if stripped == "|" or stripped.startswith(("| ", "+-", "+=")):  # a line block or a grid table row
        return line
    parts = _PROTECTED.split(line)
    return "".join(p if i % 2 else _MAGNITUDE.sub(r"\\|\1\\|", p) for i, p in enumerate(parts))


def _process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    lines[:] = [escape_magnitudes(line) for line in lines]



def _unwrap_numba(app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None,
                  return_annotation: str | None) -> tuple[str, str | None] | None:
    """Signature of a numba dispatcher: that of its Python function."""
    py_func = getattr(obj, "py_func", None)
    if py_func is None or signature:
        return None
    try:
        sig = inspect.signature(py_func)
    except (TypeError, ValueError):
        return None
    return str(sig), return_annotation


def _resolve_reexport(app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref,
                      contnode: nodes.Element) -> nodes.Element | None:
    """Link ``package.name`` to where ``name`` is documented when the package re-exports it.

    A name is documented once, in the module that defines it; prose and docstrings may use
    the public path (``labquake.report.bk_significance``). For an object with a
    ``__module__`` that module is tried; for data (a dict, a tuple), the already imported
    submodule of the package that holds the same object.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    modname, _, attr = target.rpartition(".")
    mod = sys.modules.get(modname)
    obj = getattr(mod, attr, None) if mod is not None else None
    if obj is None:
        return None
    candidates = []
    home = getattr(obj, "__module__", None)
    if isinstance(home, str) and home != modname:
        candidates.append(f"{home}.{getattr(obj, '__qualname__', attr)}")
    candidates += [f"{name}.{attr}" for name, sub in list(sys.modules.items())
                   if name.startswith(modname + ".") and getattr(sub, attr, None) is obj]
    domain = env.get_domain("py")
    for cand in candidates:
        new = node.deepcopy()
        new["reftarget"] = cand
        found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], cand, new, contnode)
        if found is not None:
            return found
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("labquake_campaign_pages", [], "env", list)
    app.connect("builder-inited", _builder_inited)
    app.connect("env-get-outdated", _env_get_outdated)
    app.connect("autodoc-process-signature", _unwrap_numba)
    app.connect("missing-reference", _resolve_reexport)
    # before numpydoc (priority 500) parses the sections
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    for name, cls in (("labquake-schema", SchemaTable), ("labquake-analysis-tables", AnalysisTables),
                      ("labquake-config-defaults", ConfigDefaults), ("labquake-campaign-options", CampaignOptions),
                      ("labquake-cal-notes", CalNotes), ("labquake-calibration-targets", CalibrationTargets),
                      ("labquake-contact-laws", ContactLaws), ("labquake-cli", CliHelp),
                      ("labquake-reexports", Reexports)):
        app.add_directive(name, cls)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
