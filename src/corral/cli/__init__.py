"""The ``corral`` command."""

from corral.cli.app import main

__all__ = ["main"]
