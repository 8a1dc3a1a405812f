"""Errors raised by the engine."""


class DecodeError(ValueError):
    """Raised for every malformed input: truncated or corrupt updates, messages and values.

    Applying an update that raises this leaves the document exactly as it was.
    """
