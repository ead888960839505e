"""Input/output: the run-directory contract, PFC3D import/export, VTK export."""
