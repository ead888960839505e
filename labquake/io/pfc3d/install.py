"""Writing a run directory from PFC3D data: built in a hidden temporary folder beside the
target and renamed into place, so that nothing is written on an error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from labquake.errors import OutputError
from labquake.io.rundir import (
    MARKER,
    has_marker,
    write_marker,
)

# --------------------------------------------------------------------------------------
# Writing the run directory
# --------------------------------------------------------------------------------------


def _check_target(out: Path, force: bool) -> None:
    """``out`` must be missing, empty, or (with ``force``) a directory labquake wrote.

    ``--force`` replaces only a directory that holds the labquake marker file
    (:data:`labquake.io.rundir.MARKER`), never any other non-empty directory.
    """
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"{out}: exists and is not a directory")
        if any(out.iterdir()):
            if not force:
                raise OutputError(f"{out}: already exists and is not empty; choose another --out (or pass --force to "
                                  f"replace it)")
            if not has_marker(out):
                raise OutputError(f"{out}: not a directory labquake wrote (no {MARKER} marker file), so --force does "
                                  "not replace it; choose another --out or remove it yourself")


def _install(tmp: Path, out: Path, force: bool) -> None:
    """Move the finished ``tmp`` directory to ``out`` (replacing an empty or, with
    ``force``, a labquake-marked directory)."""
    backup = None
    if out.exists():
        if any(out.iterdir()):
            _check_target(out, force)
            backup = out.with_name(f".{out.name}.replaced-{os.getpid()}")
            os.replace(out, backup)
        else:
            out.rmdir()
    try:
        os.replace(tmp, out)
    except OSError as exc:
        if backup is not None:
            os.replace(backup, out)
        raise OutputError(f"cannot create {out}: {exc.strerror or exc}") from exc
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def build_and_install(out: Path, fill, force: bool, kind: str = "run") -> None:
    """All or nothing: ``fill(tmp_dir)`` in a hidden directory beside ``out``, then move it
    into place; on any error nothing is left behind."""
    tmp = build_in_temp(out, fill)
    try:
        if not has_marker(tmp):
            write_marker(tmp, kind)
        _install(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_in_temp(out: Path, fill) -> Path:
    """Run ``fill(tmp_dir)`` in a new hidden temporary directory beside ``out`` and return
    that directory; on any error remove it and re-raise."""
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        fill(tmp)
        return tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
