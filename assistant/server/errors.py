"""Errors in OpenAI's JSON shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from ..errors import AssistantError, AudioInputError, UnknownNameError, UsageError
from .workers import Busy, Cancelled, TimedOut, Unavailable

log = logging.getLogger("assistant.server")

CLIENT_CLOSED = 499  # nginx's status for "the client went away"; nobody reads it


class ApiError(Exception):
    """An HTTP error answered in OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def to_api_error(error: Exception) -> ApiError:
    """The HTTP error for anything a handler, a worker or an engine raised."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, Busy):
        return ApiError(
            429,
            str(error),
            type="rate_limit_error",
            code="server_busy",
            headers={"Retry-After": "1"},
        )
    if isinstance(error, TimedOut):
        return ApiError(504, str(error), type="server_error", code="timeout")
    if isinstance(error, Unavailable):
        return ApiError(503, str(error), type="server_error", code="unavailable")
    if isinstance(error, Cancelled | ClientDisconnect):
        return ApiError(CLIENT_CLOSED, str(error), code="client_closed")
    if isinstance(error, AudioInputError):
        return ApiError(400, str(error), param="file", code="invalid_file_format")
    if isinstance(error, UnknownNameError):
        return ApiError(404, str(error), code="not_found")
    if isinstance(error, UsageError):
        return ApiError(400, str(error))
    if getattr(error, "remote", False):  # an openai_compat stage's endpoint failed
        return ApiError(502, str(error), type="server_error", code="upstream_error")
    if isinstance(error, AssistantError):
        return ApiError(500, str(error), type="server_error")
    log.error("unexpected error", exc_info=error)
    return ApiError(
        500, "The server had an error while processing your request.", type="server_error"
    )


async def handle(request: Request, error: Exception) -> JSONResponse:
    """Starlette exception handler: every error leaves the server in OpenAI's shape."""
    if isinstance(error, HTTPException):  # no such route, or a method the route lacks
        message = f"Unknown request URL: {request.method} {request.url.path}."
        if error.status_code != 404:
            message = f"{error.detail}: {request.method} {request.url.path}."
        return ApiError(error.status_code, message, headers=error.headers).response()
    return to_api_error(error).response()
