"""The layout of the engine's state arrays: their names, and the columns of the bond table,
the crack records and the meta vector (shared by :mod:`.engine` and its parts), and the
lookup of pairs in the pair table."""

import numpy as np

from . import _kernels as K

# order matters only for readability; every array here goes into state_dict()
_PARTICLE_ARRAYS = ("pos", "vel", "omg", "frc", "trq", "rad", "mass", "minv", "iinv", "fixed",
                    "side", "oid", "idx_of", "ext", "x0", "ptan")
_PAIR_ARRAYS = ("pi", "pj", "istart", "jstart", "jslots", "hist", "roll", "hold", "pst", "pbd")
_BOND_ARRAYS = ("bfn", "bfs", "bmom", "bprop", "bst", "bids", "bfj")
_OTHER_ARRAYS = ("prm", "wal", "cnt", "crf", "cri", "meta", "fjg", "enr")
#: arrays a state dict of an older labquake may lack (rebuilt by from_state_dict)
_OPTIONAL_ARRAYS = ("enr", "hold", "ptan")
#: columns of the crack records: cri (step, kind, mode, particle a, particle b, healed)
_NCRI = 6

# bond table columns: area, radius, tensile strength, cohesion, tan(friction angle), kind,
# I = pi R^4 / 4, R / I, R / J (J = 2 I), 1 / area, kn and ks per area (Pa/m)
_NBPROP = 12

# meta vector layout
_M_DENSITY = 0
_M_DTSAFE = 1
_M_CRIT = 2
_M_DSCALE = 3
_M_NTHREADS = 4
_M_HASBOND = 5
_M_BRES = 6
_M_HASCYL = 7
_M_CYLR0 = 8
_M_HASJ = 9
_M_SJAREA = 10
_M_DTGIVEN = 11
_M_FJMOD = 12  # flat joint: E*, kn/ks, rings, sectors (0 when the rock bonds are parallel bonds)
_M_FJRATIO = 13
_M_FJNR = 14
_M_FJNA = 15
_NMETA = 16

def _find_slots(istart, pj, lo, hi):
    """The pair-table slot of each pair (lo[k], hi[k]) (-1 where there is none)."""
    return K._find_slots(istart, pj, np.ascontiguousarray(lo, dtype=np.int64),
                         np.ascontiguousarray(hi, dtype=np.int64))


def _resize_crack_buffer(a: dict, cap: int) -> None:
    """Give the crack buffers (``crf``, ``cri``) ``cap`` rows, keeping the records so far."""
    ncr = int(a["cnt"][K.C_NCRK])
    crf = np.zeros((cap, 7))
    cri = np.zeros((cap, _NCRI), dtype=np.int64)
    crf[:ncr] = a["crf"][:ncr]
    cri[:ncr] = a["cri"][:ncr]
    a["crf"] = crf
    a["cri"] = cri
