"""Contact laws of the DEM engine, one module each ("one law, one room").

Each module holds small ``@njit(inline="always")`` functions of scalars (and, for the
flat joint, of one row of its state table) that compute one law's forces, its break test
and its post-break state. The pair loop (:func:`labquake.sim.dem._kernels._pair_range`) only
decides which law a pair follows and calls it:

========================  ==================================================
module                    law
========================  ==================================================
:mod:`.linear`            linear frictional contact with tangential history
                          (LAMMPS ``gran/hooke/history`` type) and optional
                          rolling resistance
:mod:`.parallel_bond`     parallel bond (Potyondy & Cundall 2004): force and
                          moment of a bonded cement disc, with a moment
                          contribution factor β
:mod:`.flat_joint`        flat joint (Potyondy 2012): a disc of Nr × Nal
                          elements that break one by one
:mod:`.smooth_joint`      smooth joint: the saw-cut fault, contact frame
                          fixed to the joint plane
========================  ==================================================

Adding a law means adding a module here, its parameters in :mod:`labquake.sim.dem.params`
and one dispatch branch in the pair loop. Shared vector helpers live in :mod:`._vector`.
All functions compile with the pair kernel's fast-math flags (no reassociation), so the
serial and threaded specialisations of the pair loop give bit-identical forces.
"""
