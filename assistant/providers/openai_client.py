"""The HTTP side of the `openai_compat` providers: one endpoint's client, with a timeout on
each request, bounded retries with backoff for 429 and 5xx, and one clear error when the
endpoint cannot be reached or answers with an error."""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import AssistantError, UsageError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class EndpointError(AssistantError):
    """An OpenAI-compatible endpoint that cannot be reached, timed out, or refused a request."""

    remote = True  # the server answers 502 when a stage it forwards to fails

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    """Where a stage's endpoint is and how to talk to it."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1 (a URL with no path gets /v1)
    api_key: str = ""
    timeout_s: float = 60.0  # per request (connect, and each read)
    max_retries: int = 3  # for 429 and 5xx answers
    backoff_s: float = 0.5  # first wait; doubled each retry
    max_backoff_s: float = 8.0


class EndpointClient:
    """One endpoint's HTTP client for one kind of stage."""

    def __init__(self, endpoint: Endpoint, kind: str, section: str) -> None:
        url = endpoint.base_url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"{section}.base_url must be an http(s) URL such as "
                f"http://127.0.0.1:8000/v1, not {endpoint.base_url!r}"
            )
        self.url = url if parts.path else f"{url}/v1"
        self.endpoint = endpoint
        self.kind = kind
        self.section = section
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(endpoint.timeout_s, connect=min(endpoint.timeout_s, 10.0)),
        )

    def close(self) -> None:
        self._http.close()

    def open(self, path: str, **request: Any) -> httpx.Response:
        """POST and return the streaming response (the caller closes it); raises EndpointError."""
        for attempt in range(self.endpoint.max_retries + 1):
            try:
                response = self._http.send(
                    self._http.build_request("POST", path, **request), stream=True
                )
            except httpx.HTTPError as error:
                raise self.transport_error(error) from None
            if response.status_code < 400:
                return response
            with contextlib.suppress(httpx.HTTPError):  # for the error's message
                response.read()
            response.close()
            if response.status_code in RETRY_STATUSES and attempt < self.endpoint.max_retries:
                time.sleep(self._backoff(attempt, response.headers.get("retry-after")))
                continue
            raise self.status_error(response)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        wait = self.endpoint.backoff_s * 2**attempt * random.uniform(0.8, 1.2)
        with contextlib.suppress(ValueError):  # Retry-After in seconds; a date is ignored
            wait = max(wait, float(retry_after or 0))
        return min(wait, self.endpoint.max_backoff_s)

    def transport_error(self, error: httpx.HTTPError) -> EndpointError:
        if isinstance(error, httpx.ConnectError):
            reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(error)) or type(error).__name__
            return EndpointError(
                f"cannot reach the {self.kind} endpoint {self.url}: "
                f"{reason[0].lower()}{reason[1:]}; is the server running?"
            )
        if isinstance(error, httpx.TimeoutException):
            return EndpointError(
                f"the {self.kind} endpoint {self.url} did not answer within "
                f"{self.endpoint.timeout_s:g} s ({self.section}.timeout_s)"
            )
        return EndpointError(f"the {self.kind} endpoint {self.url} failed: {error}")

    def status_error(self, response: httpx.Response) -> EndpointError:
        status = response.status_code
        message = _error_message(response)
        hint = f"; check {self.section}.api_key" if status in (401, 403) else ""
        return EndpointError(
            f"the {self.kind} endpoint {self.url} answered {status}: {message}{hint}", status
        )


def _error_message(response: httpx.Response) -> str:
    """The message of an OpenAI-shaped error body, or the start of whatever body it is."""
    try:
        text = response.text
    except httpx.ResponseNotRead:
        return response.reason_phrase
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    return text.strip()[:300] or response.reason_phrase


def endpoint_of(section: Any, name: str) -> Endpoint:
    if not section.base_url:
        raise UsageError(
            f"{name}.provider is 'openai' but {name}.base_url is empty; set it, e.g. "
            f"--set {name}.base_url=http://127.0.0.1:8000/v1"
        )
    if section.timeout_s <= 0:
        raise UsageError(f"{name}.timeout_s must be more than 0, not {section.timeout_s}")
    return Endpoint(section.base_url, section.api_key, section.timeout_s)
