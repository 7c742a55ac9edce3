"""``python -m corral``: the command line, as the ``corral`` script runs it."""

from corral.cli.app import main

main()
