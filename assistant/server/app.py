"""The ASGI application: OpenAI's routes under /v1, /health, and room for more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route

from ..config import Config
from ..errors import AssistantError
from ..providers.loading import Engines
from . import endpoints, history_routes
from .errors import ApiError, handle
from .security import ApiKeyMiddleware
from .workers import Busy, Cancelled, TimedOut, Unavailable

API_ROUTES = [
    Route("/health", endpoints.health, methods=["GET"]),
    Route("/v1/models", endpoints.list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", endpoints.get_model, methods=["GET"]),
    Route("/v1/audio/transcriptions", endpoints.transcriptions, methods=["POST"]),
    Route("/v1/audio/speech", endpoints.speech, methods=["POST"]),
    Route("/v1/chat/completions", endpoints.chat_completions, methods=["POST"]),
    *history_routes.ROUTES,
]
# Handled without a traceback; anything else is a bug, answered 500 and logged.
EXPECTED = (
    ApiError,
    AssistantError,
    Busy,
    TimedOut,
    Cancelled,
    Unavailable,
    HTTPException,
    ClientDisconnect,
)


def create_app(config: Config, engines: Engines, *, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The server for `engines` (any of them may be None). `routes` are added after the API's
    (the web page at `/` and its WebSocket go there); the API key guards /v1/ only."""
    service = endpoints.Service.create(config, engines)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            async with history_routes.opened(app, config.history):
                yield
        finally:
            service.stop()

    middleware = []
    origins = [o.strip() for o in config.server.cors_origins.split(",") if o.strip()]
    if origins:  # outermost, so that preflights and 401s carry the CORS headers too
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    if config.server.api_key:
        middleware.append(Middleware(ApiKeyMiddleware, api_key=config.server.api_key))
    handlers = {kind: handle for kind in (*EXPECTED, Exception)}
    app = Starlette(
        routes=[*API_ROUTES, *routes],
        middleware=middleware,
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.service = service
    return app
