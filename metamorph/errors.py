"""Errors a user can act on.

Every error metamorph raises for bad input is a `MetamorphError` whose message is one line naming
the file, the element and the problem. The command line prints that line and exits with status 2,
never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class MetamorphError(Exception):
    """A problem with the user's input or files, explained in one line."""


class MorphologyError(MetamorphError):
    """A robot description that cannot be loaded, normalised or tokenized."""

    def __init__(self, source: str | Path | None, problem: str):
        self.source = str(source) if source is not None else "<string>"
        self.problem = " ".join(problem.split())  # always a single line
        super().__init__(f"{self.source}: {self.problem}")
