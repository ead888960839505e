"""Portable kernels: the same catalog on any x86-64 CPU (issue 12, item 5).

numba compiles every kernel for the CPU it runs on (``NUMBA_CPU_NAME`` unset: the host).
With the fast-math flag ``contract`` LLVM fuses a*b + c into one FMA instruction wherever
the target has FMA (Haswell and later), and not on targets without it; the fused and the
unfused results differ in the last bit, and the stick-slip dynamics amplify that into a
different catalog (the quick preset: a 1-ulp difference in the flat joints' element
frames after one step, a different event count after 10^4 steps). Nothing else in the
kernels depends on the target: without fast-math flags LLVM must keep IEEE semantics, and
+, −, ×, ÷ and √ are exactly rounded on every CPU.

So the **portable** mode (the default) compiles the kernels without any fast-math flag;
the kernels call no libm transcendental (those dispatch on the CPU at run time, see
:mod:`labquake.sim.dem.exactmath`). Then the compile target only changes the speed, never a
bit of the results, and a run, or a checkpoint resumed on another machine, gives the
same tables on any x86-64 CPU (same labquake and numba versions).

``LABQUAKE_PORTABLE=0`` in the environment before ``labquake.sim.dem`` is first imported
selects the previous flags (FMA contraction where the CPU has it): results then depend on
the CPU the kernels were compiled for. The kernels of that mode are cached apart
(``<cache>/labquake-native``): numba's cache key holds the CPU but not the fast-math
flags. The mode is fixed for the life of the process (numba compiles each kernel once);
:func:`compute_target` says which mode and which CPU target the process uses, and every
run records it in ``meta.json`` (``compute``).

To pin the compile target as well, set ``NUMBA_CPU_NAME=generic`` (numba reads it when it
is imported and builds its code generator on the first compilation, so it must be in the
environment before Python starts); in portable mode that changes the speed only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_ENV = "LABQUAKE_PORTABLE"


def _read_mode() -> bool:
    raw = os.environ.get(_ENV, "1").strip().lower()
    if raw in ("", "1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{_ENV}={raw!r}: use 1 (portable, the default) or 0 (CPU-specific FMA contraction)")


#: whether this process's kernels are portable (fixed at the first import of labquake.sim.dem)
PORTABLE: bool = _read_mode()

#: fast-math flags of the pair kernel and the contact laws. Portable: none (IEEE, no FMA
#: contraction). Native: no reassociation (so threads and specialisations agree), but FMA
#: contraction where the compile target has FMA.
FASTMATH: set[str] | bool = False if PORTABLE else {"nnan", "ninf", "nsz", "contract"}


@contextlib.contextmanager
def kernel_cache() -> Iterator[None]:
    """Around the import of the kernel modules: in the native mode, point numba's cache
    of the kernels decorated meanwhile at a directory of their own, so a cache entry
    compiled with other flags is never loaded (numba keys its cache on the signature, the
    CPU and the bytecode, not on the fast-math flags)."""
    if PORTABLE:
        yield
        return
    from numba.core import config

    old = config.CACHE_DIR
    base = old or os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    config.CACHE_DIR = os.path.join(base, "labquake-native")
    try:
        yield
    finally:
        config.CACHE_DIR = old


def compute_target() -> dict:
    """How this process computes: portable mode, fast-math flags and numba's compile
    target (CPU name and features as numba's code generator uses them), the host CPU,
    and the numba/LLVM versions. Recorded in every run's ``meta.json``."""
    import llvmlite
    import llvmlite.binding as ll
    import numba

    try:
        from numba.core.registry import cpu_target

        _, cpu_name, features = cpu_target.target_context.codegen().magic_tuple()
    except Exception:  # pragma: no cover - numba internals moved
        cpu_name = numba.config.CPU_NAME or ll.get_host_cpu_name()
        features = numba.config.CPU_FEATURES
    feats = [f[1:] for f in str(features or "").split(",") if f.startswith("+")]
    return {
        "portable": PORTABLE,
        "fastmath": sorted(FASTMATH) if FASTMATH else [],
        "fma_contraction": (not PORTABLE) and "fma" in feats,
        "cpu_name": str(cpu_name),
        "cpu_features": ",".join(sorted(feats)),
        "host_cpu": ll.get_host_cpu_name(),
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "env": {k: os.environ[k] for k in (_ENV, "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES") if k in os.environ},
    }
