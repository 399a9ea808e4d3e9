"""The Entra endpoints msal calls (instance discovery, OpenID configuration, token and device code),
answered by the emulator's `TokenService`; None for any other path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request

from p2c.emulator.auth import TokenService

OPENID_CONFIGURATION = re.compile(r"/([^/]+)/v2\.0/\.well-known/openid-configuration")
TOKEN_ENDPOINT = re.compile(r"/([^/]+)/oauth2/v2\.0/(token|devicecode)")


@dataclass
class TokenAnswer:
    status: int
    document: Any
    headers: dict[str, str] = field(default_factory=dict)


def token_service_answer(tokens: TokenService, request: Request) -> TokenAnswer | None:
    path = request.path
    if path.endswith("/discovery/instance"):
        return TokenAnswer(200, tokens.instance_discovery())
    match = OPENID_CONFIGURATION.fullmatch(path)
    if match:
        if match.group(1) != tokens.tenant:
            return TokenAnswer(
                400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."}
            )
        return TokenAnswer(200, tokens.openid_configuration())
    match = TOKEN_ENDPOINT.fullmatch(path)
    if match and request.method == "POST":
        form = {k: v for k, v in request.form.items()}
        if request.authorization and request.authorization.type == "basic":
            form.setdefault("client_id", request.authorization.username or "")
            form.setdefault("client_secret", request.authorization.password or "")
        handler = tokens.token if match.group(2) == "token" else tokens.device_code
        answer = handler(match.group(1), form)
        return TokenAnswer(answer.status, answer.body, {"Cache-Control": "no-store"})
    return None
