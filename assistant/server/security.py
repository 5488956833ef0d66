"""Who may use the server: loopback by default, a Bearer API key for anything wider."""

from __future__ import annotations

import hashlib
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import ServerConfig, is_loopback
from ..errors import UsageError
from .errors import ApiError

PROTECTED_PREFIXES = ("/v1/",)  # the API and the voice session; `/health` and the page stay open


def check_bind(server: ServerConfig) -> None:
    """Refuse to listen beyond loopback without an API key, and other unusable settings."""
    if not is_loopback(server.host) and not server.api_key:
        raise UsageError(
            f"refusing to listen on {server.host} without an API key: anyone who can reach "
            "this machine could use it. Set one (ASSISTANT_SERVER_API_KEY=... or "
            "--set server.api_key=...), or listen on 127.0.0.1"
        )
    if not 0 <= server.port <= 65535:
        raise UsageError(f"server.port must be between 0 and 65535, not {server.port}")
    if server.queue_size < 0:
        raise UsageError(f"server.queue_size must be 0 or more, not {server.queue_size}")
    if server.timeout_s <= 0:
        raise UsageError(f"server.timeout_s must be more than 0, not {server.timeout_s}")


def key_matches(authorization: str, api_key: str) -> bool:
    """Whether an Authorization header carries `api_key`, compared in constant time."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Digests first, so that neither the content nor the length of the key shows in the timing.
    given = hashlib.sha256(token.strip().encode()).digest()
    return hmac.compare_digest(given, hashlib.sha256(api_key.encode()).digest())


class ApiKeyMiddleware:
    """401 in OpenAI's shape for a request under /v1/ without `Authorization: Bearer KEY`."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith(PROTECTED_PREFIXES):
            headers = dict(scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            if scope["type"] == "websocket" and not authorization:
                authorization = _query_token(scope)  # browsers cannot set WebSocket headers
            if not key_matches(authorization, self.api_key):
                error = _missing_key() if not authorization else _wrong_key()
                if scope["type"] == "http":
                    await error.response()(scope, receive, send)
                else:
                    await send({"type": "websocket.close", "code": 1008, "reason": error.message})
                return
        await self.app(scope, receive, send)


def _query_token(scope: Scope) -> str:
    """`?access_token=KEY` as a Bearer credential, or "" when there is none."""
    from urllib.parse import parse_qs

    tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token")
    return f"Bearer {tokens[0]}" if tokens else ""


def _missing_key() -> ApiError:
    return ApiError(
        401,
        "You didn't provide an API key. Send it in an Authorization header: "
        "'Authorization: Bearer YOUR_KEY' (the key is the server's server.api_key).",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _wrong_key() -> ApiError:
    return ApiError(
        401,
        "Incorrect API key provided.",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )
