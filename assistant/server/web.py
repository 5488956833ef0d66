"""The kiosk page at `/`, its static files, and the voice session WebSocket at /v1/session."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from ..audio.vad import SileroVAD
from ..config import Config
from ..conversation.engine import Conversation
from ..conversation.options import conversation_options
from ..history.recorder import Recorder, recording
from ..history.records import History
from ..providers.loading import Engines
from ..providers.store import ModelStore
from ..providers.wake_words import load_wake_word, wake_word_factory, wake_words
from ..tools import LocalSkills, ToolStore, ToolStoreError, open_store, scheduler_for
from ..types import ChatMessage
from .session import BrowserSink, SessionParts, run_session
from .session_settings import SessionChoices, session_languages
from .tool_routes import tool_routes

log = logging.getLogger("assistant.server")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# Everything comes from this server: no CDN, no fonts, nothing that needs the network.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
    "media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


def web_routes(config: Config, engines: Engines) -> list[BaseRoute]:
    """Routes for the browser: the page, its assets and the voice session."""
    options = conversation_options(config)
    make_detector = wake_word_factory(config)  # conversation.wake_word: each session waits for it
    store = _tool_store(config)
    skills = (
        None
        if store is None
        else LocalSkills.on(
            store, local_commands=config.tools.local_commands, model_tools=config.tools.model_tools
        )
    )

    def make_conversation(sink: BrowserSink, on_event) -> Conversation:
        conversation = Conversation(
            engines.stt, engines.chat, engines.tts, SileroVAD.load(), sink, options,
            on_event=on_event, history=[ChatMessage("system", options.system_prompt)],
            wake_word=make_detector() if make_detector else None,
            turn_model=engines.turn,
            skills=skills,
        )  # fmt: skip
        if store is not None:  # timers ring in the open sessions (each once), in their language
            scheduler = scheduler_for(
                config, store, conversation.announce, lambda: conversation.options.language
            )
            scheduler.start(lambda: conversation.closed)
        return conversation

    def record(history: History):
        recorder = Recorder(history, stt_model=config.stt.model, llm_model=config.llm.model,
                            voice=options.voice or "", meta={"source": "browser"})  # fmt: skip
        return recording(recorder)

    voices, labels = [], {}
    for voice in engines.tts.voices():
        ids = [f"{voice.id}:{s}" for s in voice.speakers] or [voice.id]
        voices.extend(ids)
        languages = f" ({', '.join(voice.languages)})" if voice.languages else ""
        labels.update({id_: f"{voice.description or id_}{languages}" for id_ in ids})
    parts = SessionParts(make_conversation, voices, record, _choices(config, engines), labels)

    async def page(request: Request) -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers=PAGE_HEADERS)

    async def session(websocket: WebSocket) -> None:
        # the history the server opened at start (see history_routes.opened)
        await run_session(websocket, parts, websocket.app.state.history)

    return [
        Route("/", page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=WEB_DIR), name="static"),
        WebSocketRoute("/v1/session", session),
        *tool_routes(store),
    ]


def _choices(config: Config, engines: Engines) -> SessionChoices:
    """The wake words (downloaded) and languages a browser session may choose."""
    store = ModelStore.open(config.models.dir)
    words = {word.name: word.phrase for word in wake_words(store) if word.downloaded}
    stt = next((e for e in store.catalog.by_role("stt") if e.name == config.stt.model), None)
    languages = session_languages(engines.tts.voices(), stt)
    return SessionChoices(words, languages, lambda name: load_wake_word(store, name))


def _tool_store(config: Config) -> ToolStore | None:
    """The timers and notes; None when tools are off or the store cannot be used (logged)."""
    try:
        return open_store(config)
    except ToolStoreError as error:
        log.warning("%s; timers and notes are off", error)
        return None
