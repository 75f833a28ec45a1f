"""Errors that reach the user as one clear line.

`VmebError` is the one class the CLI catches; the subclasses below exist only where a caller
must tell errors apart (catch the subclass, never match the message text):

* `InputFileError`: a file or directory at fault, kept as ``path`` (`file_error` builds it).
* `CheckpointError`: a model checkpoint or ensemble that cannot serve the request, e.g. a single
  model given where an ensemble is needed.
* `SiteIndexError`: a vacancy site index out of range, repeated or not an integer; the caller
  names the file the indices came from (a ``--sites-file``) rather than the structure.
"""

from __future__ import annotations

import os


class VmebError(Exception):
    """A user-facing error: bad input, a missing file, a mismatched checkpoint.

    The message names the file (where there is one) and the problem in one line; the CLI prints
    it as ``vmeb: error: <message>`` and exits non-zero.
    """


class InputFileError(VmebError):
    """A `VmebError` about one file or directory; the message starts with its path.

    Attributes:
        path: The file or directory at fault, as given.
        problem: What is wrong with it, without the path.
    """

    def __init__(self, path: str | os.PathLike | object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple[type, tuple[object, str]]:
        """Pickle by (path, problem), so the error survives worker processes."""
        return type(self), (self.path, self.problem)


class CheckpointError(InputFileError):
    """A checkpoint or ensemble that cannot be used as asked (the path is the one given)."""


class SiteIndexError(VmebError):
    """A vacancy site index that is out of range, repeated or not an integer."""


def file_error(path: object, problem: str) -> InputFileError:
    """Build an `InputFileError` whose message starts with the offending path.

    Args:
        path: The file or directory at fault.
        problem: What is wrong with it, in a few words.

    Returns:
        The error, ready to raise.
    """
    return InputFileError(path, problem)
