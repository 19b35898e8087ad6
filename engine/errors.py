"""Exceptions the training engine raises to its caller (the Django task)."""

from __future__ import annotations


class Cancelled(Exception):
    """The caller's `should_stop()` answered True: the search stops as soon as it notices."""


class NoSuccessfulTrials(Exception):
    """No trial of the study completed, so there is nothing to refit.

    `reason` lists the distinct errors of the failed trials, most frequent first.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ArtifactIntegrityError(Exception):
    """An artifact file is missing, differs from its recorded checksum, is unexpected, or
    holds something it must not. The message names the file."""
