"""The saved conversations over HTTP, for the web UI: the `assistant history` commands under
/v1/history (so the API key guards them too).

The server opens the history once, at start. Every store call runs on a worker thread, never
on the event loop; `SQLiteHistory` serialises its one connection with a lock. The OpenAI
endpoints record nothing: only a voice session writes history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..config import HistoryConfig
from ..history.export import FORMATS, conversation_dict, hit_dict, render, summary_dict
from ..history.records import History, HistoryError, NotFoundError
from ..history.store import DisabledHistory, open_history
from .errors import ApiError, bad_request
from .uploads import read_json

T = TypeVar("T")
MAX_LIMIT = 1000  # conversations or hits in one answer
MAX_ID = 2**63 - 1  # SQLite's largest integer: ids beyond it are in no table
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
}
RATINGS = {"up": 1, "down": -1, 1: 1, -1: -1}


@asynccontextmanager
async def opened(app: Starlette, config: HistoryConfig) -> AsyncIterator[History]:
    """Open the configured history for the server's lifetime (a `DisabledHistory` when it is
    off or unusable, after one warning), as `app.state.history`."""
    history = await run_in_threadpool(open_history, config)
    app.state.history = history
    try:
        yield history
    finally:
        app.state.history = DisabledHistory("the server is shutting down")
        await run_in_threadpool(history.close)


def _history(request: Request) -> History:
    return getattr(request.app.state, "history", None) or DisabledHistory(
        "the history is not open (the server's lifespan did not run)"
    )


async def _call(history: History, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a worker thread; the store's errors as HTTP errors."""
    try:
        return await run_in_threadpool(function, *args)
    except NotFoundError as error:
        if not history.enabled:
            raise _off(history) from None
        raise ApiError(404, str(error), code="not_found") from None
    except HistoryError as error:
        raise ApiError(503, str(error), type="server_error", code="history_unavailable") from None


def _off(history: History) -> ApiError:
    reason = getattr(history, "reason", "")
    return ApiError(
        404,
        "history is off on this server, so no conversation is saved or found"
        + (f" ({reason})" if reason else ""),
        code="history_disabled",
    )


def _path_id(request: Request) -> int:
    """The conversation or turn id in the path; one past SQLite's integers cannot exist."""
    number = request.path_params["id"]
    if number > MAX_ID:
        raise ApiError(404, f"there is no conversation or turn {number}", code="not_found")
    return number


def _limit(request: Request) -> int:
    value = request.query_params.get("limit", "50")
    if not value.strip().isdecimal() or not 1 <= int(value) <= MAX_LIMIT:
        message = f"'limit' is a whole number from 1 to {MAX_LIMIT}, not {value!r}"
        raise bad_request(message, "limit")
    return int(value)


def _listing(data: list[dict[str, Any]], history: History) -> JSONResponse:
    return JSONResponse({"object": "list", "data": data, "enabled": history.enabled})


async def list_conversations(request: Request) -> JSONResponse:
    history = _history(request)
    limit = _limit(request)
    summaries = await _call(history, history.conversations, limit)
    return _listing([summary_dict(s) for s in summaries], history)


async def get_conversation(request: Request) -> JSONResponse:
    history = _history(request)
    conversation = await _call(history, history.conversation, _path_id(request))
    return JSONResponse(conversation_dict(conversation))


async def export_conversation(request: Request) -> Response:
    history = _history(request)
    conversation_id = _path_id(request)
    fmt = request.query_params.get("format", "md")
    if fmt not in FORMATS:
        raise bad_request(
            f"unknown export format {fmt!r}. Available: {', '.join(FORMATS)}", "format"
        )
    conversation = await _call(history, history.conversation, conversation_id)
    filename = f"conversation-{conversation_id}.{fmt}"
    return Response(
        render(conversation, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def delete_conversation(request: Request) -> JSONResponse:
    history = _history(request)
    conversation_id = _path_id(request)
    await _call(history, history.delete, conversation_id)
    return JSONResponse({"deleted": conversation_id})


async def delete_all(request: Request) -> JSONResponse:
    history = _history(request)
    if request.query_params.get("confirm", "").lower() != "true":
        raise bad_request(
            "deleting every saved conversation cannot be undone: add ?confirm=true", "confirm"
        )
    count = await _call(history, history.delete_all)
    return JSONResponse({"deleted": count, "enabled": history.enabled})


async def search(request: Request) -> JSONResponse:
    history = _history(request)
    text = request.query_params.get("q", "").strip()
    if not text:
        raise bad_request("give some words to search for in 'q'", "q")
    limit = _limit(request)
    hits = await _call(history, history.search, text, limit)
    return _listing([hit_dict(h) for h in hits], history)


async def feedback(request: Request) -> JSONResponse:
    history = _history(request)
    turn_id = _path_id(request)
    body = await read_json(request, request.app.state.service.config.server.timeout_s)
    if not isinstance(body, dict):
        raise bad_request('the body is a JSON object: {"rating": "up" or "down", "comment": ""}')
    rating = body.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, str | int) or rating not in RATINGS:
        raise bad_request(f'\'rating\' is "up", "down", 1 or -1, not {rating!r}', "rating")
    comment = body.get("comment", "")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise bad_request("'comment' is a string", "comment")
    # A user's turn raises UsageError: 400, as every UsageError the server meets.
    await _call(history, history.set_feedback, turn_id, RATINGS[rating], comment)
    return JSONResponse({"turn_id": turn_id, "rating": RATINGS[rating], "comment": comment})


ROUTES = [
    Route("/v1/history/conversations", list_conversations, methods=["GET"]),
    Route("/v1/history/conversations", delete_all, methods=["DELETE"]),
    Route("/v1/history/conversations/{id:int}", get_conversation, methods=["GET"]),
    Route("/v1/history/conversations/{id:int}", delete_conversation, methods=["DELETE"]),
    Route("/v1/history/conversations/{id:int}/export", export_conversation, methods=["GET"]),
    Route("/v1/history/search", search, methods=["GET"]),
    Route("/v1/history/turns/{id:int}/feedback", feedback, methods=["POST"]),
]
