"""The timers, alarms and lists over HTTP, for the kiosk page (under /v1/, so the API key
guards them): GET /v1/timers, DELETE /v1/timers/{id}, GET and POST /v1/notes,
DELETE /v1/notes/{id}. The store is called on a worker thread, never on the event loop."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..tools import LocalSkills, ToolCallError, ToolStore, ToolStoreError
from .errors import ApiError, bad_request
from .uploads import read_json

BODY_TIMEOUT_S = 10.0


def tool_routes(store: ToolStore | None) -> list[Route]:
    """The routes on `store`; with no store (tools off or unusable) each answers 503."""

    def require() -> ToolStore:
        if store is None:
            raise ApiError(503, "timers and notes are off on this server (tools.enabled)",
                           type="server_error")  # fmt: skip
        return store

    async def call(name: str, **arguments: Any) -> dict[str, Any]:
        registry = LocalSkills.on(require()).registry
        try:
            return await run_in_threadpool(registry.call, name, arguments)
        except ToolCallError as error:
            raise bad_request(str(error)) from None
        except ToolStoreError as error:
            raise ApiError(503, str(error), type="server_error") from None

    async def list_timers(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": (await call("list_timers"))["timers"]})

    async def cancel_timer(request: Request) -> Response:
        cancelled = (await call("cancel_timer", id=_id(request)))["cancelled"]
        if not cancelled:
            raise ApiError(404, f"no running timer or alarm with id {_id(request)}")
        return JSONResponse({"id": _id(request), "object": "timer", "deleted": True})

    async def list_notes(request: Request) -> JSONResponse:
        name = request.query_params.get("list")
        notes = await run_in_threadpool(require().notes, name)
        data = [{"id": n.id, "list": n.list, "text": n.text, "created_at": n.created_at}
                for n in notes]  # fmt: skip
        return JSONResponse({"object": "list", "data": data})

    async def add_note(request: Request) -> JSONResponse:
        body = await read_json(request, BODY_TIMEOUT_S)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise bad_request('send {"text": "...", "list": "shopping"}', "text")
        arguments = {"text": body["text"], "list": str(body.get("list") or "shopping")}
        return JSONResponse(await call("add_note", **arguments), status_code=201)

    async def delete_note(request: Request) -> JSONResponse:
        removed = await run_in_threadpool(lambda: require().remove_note(note_id=_id(request)))
        if not removed:
            raise ApiError(404, f"no note with id {_id(request)}")
        return JSONResponse({"id": _id(request), "object": "note", "deleted": True})

    return [
        Route("/v1/timers", list_timers, methods=["GET"]),
        Route("/v1/timers/{id:int}", cancel_timer, methods=["DELETE"]),
        Route("/v1/notes", list_notes, methods=["GET"]),
        Route("/v1/notes", add_note, methods=["POST"]),
        Route("/v1/notes/{id:int}", delete_note, methods=["DELETE"]),
    ]


def _id(request: Request) -> int:
    return request.path_params["id"]
