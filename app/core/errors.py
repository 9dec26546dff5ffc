"""Typed errors a user can cause; each message says what went wrong and what to do."""
from __future__ import annotations

from pathlib import Path

# What every command of the CLI exits with (app/cli.py and the jobs' command-line faces alike): done; failed;
# a usage error; done with some documents failed; cancelled (Ctrl+C, as a shell reports SIGINT).
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_CANCELLED = 0, 1, 2, 3, 130


class AlbertStudioError(Exception):
    """Base of every error the application reports to a person instead of a traceback."""


class DocumentError(AlbertStudioError):
    """A file could not be read as a document (unreadable, encrypted, empty, too large, not text...)."""

    def __init__(self, source: str | Path, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class ModelError(AlbertStudioError):
    """A model folder is missing, damaged or does not match its manifest."""


class LabelDataError(AlbertStudioError):
    """Labelled training data cannot be used as given (bad columns, one class, too few examples...)."""


class StoreError(AlbertStudioError):
    """The results database cannot be opened or written."""


class Cancelled(AlbertStudioError):
    """Long work stopped because the user asked it to."""

    def __init__(self, message: str = "Cancelled by the user"):
        super().__init__(message)


class LanguageMismatchError(AlbertStudioError):
    """The input is in a language the chosen model does not read (an English-only model on French text)."""

    def __init__(self, detected: str, expected: str, message: str):
        self.detected, self.expected = detected, expected
        super().__init__(message)
