"""Errors that reach the user as one clear line."""


class VmebError(Exception):
    """A user-facing error: bad input, a missing file, a mismatched checkpoint.

    The message names the file (where there is one) and the problem in one line; the CLI prints
    it as ``vmeb: error: <message>`` and exits non-zero.
    """


def file_error(path: object, problem: str) -> VmebError:
    """Build a `VmebError` whose message starts with the offending path.

    Args:
        path: The file or directory at fault.
        problem: What is wrong with it, in a few words.

    Returns:
        The error, ready to raise.
    """
    return VmebError(f"{path}: {problem}")
