"""The errors of the spend reader: a file that cannot be used, and a bad column map."""

from __future__ import annotations


class SpendFileError(ValueError):
    """A spend file cannot be used at all (one clear error naming it)."""


class NotSpendError(SpendFileError):
    """The file is not a spend file (``payments_seen``: yet it holds a column of dates and
    a column of money, so it is reported as an error even inside a folder, where other
    CSVs, such as a provenance.csv, are skipped)."""

    def __init__(self, message: str, *, payments_seen: bool = False) -> None:
        super().__init__(message)
        self.payments_seen = payments_seen


class NoBodyError(SpendFileError):
    """The publishing body is neither in the file, nor in its name, nor given."""


class AmbiguousColumnsError(SpendFileError):
    """A spend file whose columns could be read more than one way (the message lists the
    candidates): refused rather than guessed, so no payment is read from the wrong column."""


class SpendColumnsError(ValueError):
    """A column-mapping TOML file is malformed; the message names the file and the problem."""
