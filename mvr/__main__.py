"""``python -m mvr``: the same as the ``mvr`` command."""

from mvr.cli import main

main()
