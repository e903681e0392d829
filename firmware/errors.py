"""The spectral core's small exception family."""

from __future__ import annotations


class AssayError(Exception):
    """Base class of every error Assay raises on purpose."""


class SpectrumReadError(AssayError, ValueError):
    """A spectrum file could not be read. Names the file, the line and what was expected."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.detail = message
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class InputError(AssayError, ValueError):
    """Arrays given to the API have the wrong shape, dtype or values."""
