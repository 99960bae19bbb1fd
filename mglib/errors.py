"""One exception type for bad input, so the CLI can print it as a single line."""
import reprlib

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80


class InputError(Exception):
    """Bad user input: a malformed file, an unknown parameter, a value out of range.

    The message is one line that names the file (and row/field where it applies) and what was expected.
    The CLI prints it to stderr without a traceback and exits with status 2.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # guarantee a single line


def where(path, row=None, field=None) -> str:
    """Format the location part of an error message: ``file.csv, row 3, field 'end'``."""
    parts = [str(path)]
    if row is not None:
        parts.append(f"row {row}")
    if field is not None:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def short(value) -> str:
    """A bounded repr of a bad value for a message: a long string or a 100k-deep list never reaches repr() whole."""
    return _REPR.repr(value)
