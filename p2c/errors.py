"""Exit codes and the errors a user sees, defined once for every `p2c` command.

Each command returns an `ExitCode`; anything meant for a person is raised as a `P2CError` (or a subclass),
which the CLI prints on stderr as one message, never as a traceback. `retryable` says whether the same call
may succeed if tried again (a throttled or dropped request) or will fail the same way (a bad value, a missing
file): the uploader retries on it, and the messages tell the user which of the two it is."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a `p2c` command's exit status means, in every command."""

    OK = 0  # done: every file landed, every test passed, every row written
    FAILED_ROWS = 1  # done, but rows, files or tests failed: the output says which and why
    CANNOT_RUN = 2  # could not run: usage, missing or locked database, missing build, unreachable service
    INTERRUPTED = 130  # stopped by Ctrl-C (128 + SIGINT), as shells report it


class P2CError(Exception):
    """An error for a person: the message says what went wrong and what to do about it."""

    exit_code: ExitCode = ExitCode.CANNOT_RUN
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  {self.hint}"


class UsageError(P2CError):
    """The command was called wrongly (unknown table, bad option value): nothing was read or written."""


class DatabaseUnavailable(P2CError):
    """The DuckDB file is missing, not a DuckDB file, or locked by another process."""


class ArtifactsMissing(P2CError):
    """The dbt artifacts a command reads (manifest, run results) are missing: run `p2c build` first."""


class ContractError(P2CError):
    """A model's `meta.dataverse` contract is incomplete or contradicts the model's columns."""


class TransientError(P2CError):
    """Worth retrying: throttling (429), a 5xx, a timeout, a dropped connection."""

    retryable = True


class TerminalError(P2CError):
    """Will fail the same way again (a 4xx other than 429, a value Dataverse refuses): do not retry."""


class Interrupted(P2CError):
    """Stopped by Ctrl-C (SIGINT): the message says what was done and what was not; exit 130."""

    exit_code = ExitCode.INTERRUPTED
