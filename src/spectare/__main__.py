"""``python -m spectare``: the same as the ``spectare`` command."""

from spectare.cli import main

main()
