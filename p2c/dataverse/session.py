"""The `requests.Session`s the client and MSAL send through: TLS verified, no cookies, a default timeout.

* TLS: certificates are verified as requests does by default, including a CA bundle named by
  `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`. requests applies those variables in `Session.request` (through
  `merge_environment_settings`, only while `trust_env` is true), so every call here goes through
  `Session.request` and `trust_env` stays on. There is deliberately no way to switch verification off.
* Cookies: none are stored. Dataverse sets an `ARRAffinity` cookie that pins a client to one web server;
  Microsoft recommends dropping it for bulk loads so requests spread over all servers (and their separate
  service protection budgets).
* Credentials: with `trust_env` on, requests would also read `~/.netrc` and replace our `Authorization`
  header with Basic credentials found there; every call carries an explicit `auth` object to stop that.
* Timeouts: requests has no session-wide timeout; `TimeoutSession` supplies one to every call that has
  none, which covers MSAL's calls too (MSAL ignores its own `timeout` option once given an http client)."""

from __future__ import annotations

from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
import requests.auth

Timeout = float | tuple[float, float]


class BearerAuth(requests.auth.AuthBase):
    """Sets `Authorization: Bearer <token>` on one request; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class NoAuth(requests.auth.AuthBase):
    """Leaves the request alone; given explicitly so requests does not look for `.netrc` credentials."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_NO_AUTH = NoAuth()


class TimeoutSession(requests.Session):
    """A Session that applies a default (connect, read) timeout and never keeps a cookie."""

    def __init__(self, timeout: Timeout) -> None:
        super().__init__()
        self.default_timeout = timeout
        # An empty allow-list of domains makes the policy refuse every cookie, for storing and for sending.
        self.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.trust_env = True  # requests' default; stated because REQUESTS_CA_BUNDLE depends on it

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        kwargs.pop("verify", None)  # nobody may pass verify=False through here
        if kwargs.get("auth") is None:
            kwargs["auth"] = _NO_AUTH
        return super().request(method, url, *args, **kwargs)


def new_session(timeout: Timeout, *, pool_size: int = 16) -> TimeoutSession:
    """A session whose connection pool fits `pool_size` parallel requests (requests keeps 10 by default)."""
    session = TimeoutSession(timeout)
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 1), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
