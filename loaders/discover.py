"""Which files a `p2c load PATH...` call means: files as named, folders searched recursively."""

from __future__ import annotations

from pathlib import Path

# In a folder only export-like files are taken (a README next to the exports is not an error); a file named
# on the command line is always tried, and its type is decided by its content, not by this list.
EXPORT_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"}


def discover(paths: list[Path]) -> list[Path]:
    """Files in a deterministic order, each once; a missing path is kept so the loader reports it."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                hidden = any(part.startswith((".", "~$")) for part in candidate.relative_to(path).parts)
                if candidate.is_file() and not hidden and candidate.suffix.casefold() in EXPORT_SUFFIXES:
                    found.setdefault(candidate, None)
        else:
            found.setdefault(path, None)
    return list(found)
