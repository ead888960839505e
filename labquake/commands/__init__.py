"""Sub-commands of the ``labquake`` CLI, one module each (see :mod:`labquake.cli`)."""
