"""The loader's own errors. Every one says what is wrong with which file (or setting) in words for a person.

They derive from `LoaderError` so that the command line (p2c.cli) turns each into one message and an exit
code in one place; the loader does not depend on the CLI's error classes (p2c uses loaders, never the
reverse). A file that fails is recorded as failed in raw._loads and the next file still loads."""

from __future__ import annotations


class LoaderError(ValueError):
    """Base of every error the loader raises for a person to read."""
