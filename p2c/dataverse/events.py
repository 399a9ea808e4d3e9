"""What the client tells its caller while it works, so a progress display can show each answered request,
throttling, retries and an unreachable service as they happen (the uploader draws them; the default says
nothing). Called from the client's worker threads: an implementation must be thread-safe and quick."""

from __future__ import annotations


class ClientEvents:
    """The no-op base: override what you show."""

    def answered(self, entity_set: str, rows: int, ok: bool) -> None:
        """One write request came back (`rows` rows it carried; `ok` False when it failed as a whole)."""

    def throttled(self, user: str, seconds: float) -> None:
        """A request of `user` is held `seconds` by service protection (429 Retry-After)."""

    def retrying(self, what: str, attempt: int, reason: str) -> None:
        """A transient failure (5xx, timeout, dropped connection) of `what` is sent again (`attempt` 2...)."""

    def unreachable(self, down_for_s: float, budget_s: float) -> None:
        """The service has not answered for `down_for_s` seconds; the client keeps trying until `budget_s`."""

    def reachable(self) -> None:
        """The service answers again after being unreachable."""


NO_EVENTS = ClientEvents()
