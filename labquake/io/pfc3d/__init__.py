"""PFC3D (Itasca) exports → labquake run directories, and back.

Reads the layouts the reference study (Ye et al. 2024, see ``reference/ye2024.md`` §8)
wrote from PFC3D, plus common generic exports, into a run directory that the analysis
accepts unchanged (the contract of :mod:`labquake.io.rundir`):

================================  ==============================================  ===================
file                              columns                                         → table
================================  ==============================================  ===================
``crk<run>-<trial>.txt``          ``step x y z type (nx , ny , nz )``             cracks
``ms<run>-<trial>.txt``           ``id step_start step_end x y z radius mag       events
                                  M11 M12 M22 M31 M32 M33 iso dev n_ae``
``ae<run>-<trial>.txt``,          ``id step x y z M11 … M33 cluster_id``          pfc/ae*.parquet
``ae-unclustered<run>-<trial>``   (the six tensor components as in ``ms``)        (+ on_fault rule)
``cn``/``cs<run>-<trial>.txt``    ``step f_1 … f_n`` (normal / shear force)       contacts
``bdx bdy bdz bvx bvy bvz``       displacement / velocity of each contact's       contacts
(``…_oe`` the other ball)         first (other) ball, one column per contact
``c_model<run>-<trial>.txt``      one contact-model name per contact              monitored
``b_coord<run>-<trial>.txt``      ``x y z`` of both balls per contact             monitored
``global_step<run>-<trial>.txt``  the recorded steps                              contacts step
``S<run>-sh.csv``/``-ss.csv``     stress histories (header row)                   loading
``sj<run>.txt``                   smooth joints (13 columns)                      pfc/, contact area
``ball*``/``contact*`` tables     CSV or whitespace, header, alias table          pfc/
``pfc.toml``                      import settings (see :mod:`.config`)             —
================================  ==============================================  ===================

Any of these may be a FISH binary file instead of text (detected by its magic number).
Crack types fjshear/fjten/sj_Shear/sj_Tension map to kind rock/fault and mode
shear/tension. M0 and Mw are recomputed from the moment tensor
(M0 = √(Σ m_i²/2) over its eigenvalues, Mw = ⅔·log10 M0 − 6); a ``mag`` that disagrees
raises a :class:`PfcImportWarning` and is kept as ``mag_pfc``.

Several trials: each trial monitors its own contacts over the same recorded steps (the
reference concatenates them column-wise); every history file of every trial must have the
same number of rows. Cracks and events come from the first trial.

On any error nothing is written: the run directory is built in a hidden temporary folder
beside the target and renamed into place at the end.

The package, by file family:

- :mod:`~labquake.io.pfc3d.scan`: which file is which layout; alias tables of generic tables
- :mod:`~labquake.io.pfc3d.text` and :mod:`~labquake.io.pfc3d.fish`: text and FISH binary files
- :mod:`~labquake.io.pfc3d.files`: cracks, events, AE records, generic ball / contact tables
- :mod:`~labquake.io.pfc3d.histories`: contact histories → ``contacts``
- :mod:`~labquake.io.pfc3d.stress`: stress histories → ``loading``
- :mod:`~labquake.io.pfc3d.reader`: a whole source directory (:func:`read_pfc`, :func:`import_pfc`)
- :mod:`~labquake.io.pfc3d.install`: building the run directory atomically
- :mod:`~labquake.io.pfc3d.export`: a run directory back to the PFC3D layouts
- :mod:`~labquake.io.pfc3d.config`: ``pfc.toml`` import settings
- :mod:`~labquake.io.pfc3d.diagnostics`: the import report and warning
- :mod:`~labquake.io.pfc3d.synthetic`: synthetic PFC3D source directories for tests
"""

from labquake.io.pfc3d.config import crack_type_name
from labquake.io.pfc3d.diagnostics import ImportReport, PfcImportWarning
from labquake.io.pfc3d.export import export_pfc
from labquake.io.pfc3d.files import (
    moment_magnitude,
    read_ae_file,
    read_crack_file,
    read_event_file,
)
from labquake.io.pfc3d.reader import PfcRun, import_pfc, read_pfc, write_run
from labquake.io.pfc3d.scan import (
    BALL_ALIASES,
    CONTACT_ALIASES,
    STRESS_ALIASES,
    SourceFile,
    classify,
    map_aliases,
    scan_source,
)

__all__ = [
    "BALL_ALIASES",
    "CONTACT_ALIASES",
    "STRESS_ALIASES",
    "ImportReport",
    "PfcImportWarning",
    "PfcRun",
    "SourceFile",
    "classify",
    "crack_type_name",
    "export_pfc",
    "import_pfc",
    "map_aliases",
    "moment_magnitude",
    "read_ae_file",
    "read_crack_file",
    "read_event_file",
    "read_pfc",
    "scan_source",
    "write_run",
]
