"""The two steps of signing in (docs/requests.md, "Signing in"): reach the environment, then a token and
one WhoAmI per application user. `Transport.sign_in` runs them once, before the first request."""

from __future__ import annotations

import time

import requests

from p2c.dataverse.credentials import client_id_variable
from p2c.dataverse.errors import AuthenticationError, DataverseError, EnvironmentUnreachable
from p2c.dataverse.http import BASE_HEADERS, DROPPED, Exchange, UserChannel
from p2c.dataverse.options import ClientOptions
from p2c.dataverse.outage import failure_reason
from p2c.dataverse.throttle import Backoff
from p2c.errors import P2CError

WHOAMI = "WhoAmI"
# as Microsoft recommends for every read: no cached answer
NO_CACHE = {"If-None-Match": "null"}


def who_am_i(channel: UserChannel) -> Exchange:
    """One `WhoAmI` as this user (which also brings its `x-ms-dop-hint`)."""
    return channel.send("GET", WHOAMI, headers=NO_CACHE, what=WHOAMI)


def reach_environment(channel: UserChannel, options: ClientOptions, backoff: Backoff) -> None:
    """One unauthenticated request: any HTTP answer (a 401) proves the URL leads to a web server, so a
    wrong URL or port is reported as such and never as a refused credential."""
    url = channel.environment_url
    for attempt in range(1, options.max_attempts + 1):
        try:
            channel.session.request("GET", channel.api_root, headers=BASE_HEADERS).close()
            return
        except requests.exceptions.SSLError as exc:
            trust = "certificate" in str(exc).lower() or "hostname" in str(exc).lower()
            raise EnvironmentUnreachable(
                url,
                "its TLS certificate is not trusted"
                if trust
                else "the TLS handshake failed (is an https server listening on that port?)",
                hint="a private CA's certificate goes in REQUESTS_CA_BUNDLE" if trust else None,
            ) from None
        except DROPPED as exc:
            reason = failure_reason(exc)
            if "resolve" in reason or attempt == options.max_attempts:
                raise EnvironmentUnreachable(url, reason) from None
            time.sleep(backoff.delay(attempt))


def sign_in_user(channel: UserChannel) -> P2CError | None:
    """A token and one WhoAmI; the failure, named by the user's environment variable, or None."""
    variable = client_id_variable(channel.label)
    try:
        who_am_i(channel)
    except AuthenticationError as exc:
        if exc.status != 401:  # the token service refused the credential
            message = exc.message.removeprefix(channel.label + ": ")
            return AuthenticationError(f"{variable}: {message}", hint=exc.hint)
        return AuthenticationError(
            f"{variable}: Dataverse refused its token (HTTP 401)"
            + (f": {exc.service_message}" if exc.service_message else ""),
            status=401,
            stats=exc.stats,
            hint="check that this application user exists in the environment and is enabled",
        )
    except DataverseError as exc:
        return type(exc)(f"{variable}: {exc.message}", status=exc.status, stats=exc.stats, hint=exc.hint)
    return None


def combined(failures: list[P2CError]) -> P2CError:
    """One error for the users that could not sign in (each named by its variable), of the first's kind."""
    if len(failures) == 1:
        return failures[0]
    first = failures[0]
    return type(first)("; ".join(f.message for f in failures), hint=first.hint)
