"""The version of jupyter-crdt (the build reads it; the top package re-exports it)."""

__version__ = "0.1.0"
