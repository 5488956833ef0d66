"""`assistant serve`: the OpenAI-compatible API on this machine."""

from __future__ import annotations

import os
import socket
from dataclasses import replace

import click

from ..config import Config
from ..errors import UsageError
from .context import config_of
from .voices import language_option
from .wake_words import wake_word_option, with_wake_word

GRACEFUL_SHUTDOWN_S = 5  # seconds open streams get to finish on Ctrl-C or SIGTERM
MAX_CONNECTIONS = 256  # beyond this uvicorn answers 503 at once


@click.command()
@click.option(
    "--host",
    help="Address to listen on (default: server.host, 127.0.0.1). "
    "Any other than loopback needs server.api_key.",
)
@click.option("--port", type=int, help="Port (default: server.port, 8000; 0 picks a free one).")
@language_option("the browser's users speak")
@wake_word_option
@click.pass_context
def serve(
    ctx: click.Context, host: str | None, port: int | None, language: str | None,
    wake_word: str | None,
) -> None:  # fmt: skip
    """Serve OpenAI's API (transcriptions, speech, chat completions, models) from the local models.

    Any OpenAI client works against http://HOST:PORT/v1; OpenAI's model and voice names
    (whisper-1, tts-1, gpt-4o-mini, alloy...) stand for the configured local ones.
    """
    from ..conversation.options import conversation_options
    from ..providers.loading import load_engines, warm_up
    from ..providers.wake_words import wake_word_factory
    from ..server.security import check_bind

    config = with_wake_word(config_of(ctx, language=language), wake_word)
    wake_word_factory(config)  # an unknown or missing wake word fails before the models load
    server = replace(
        config.server,
        host=host or config.server.host,
        port=config.server.port if port is None else port,
    )
    config = share_cores(replace(config, server=server))
    check_bind(server)
    listener = _listen(server.host, server.port)  # fails fast, before the models load
    try:
        engines = load_engines(config, stt=True, chat=True, tts=True, turn=True)
        warm_up(engines, conversation_options(config).first_system_prompt)  # the first turn
        bound_port = listener.getsockname()[1]
        shown = f"[{server.host}]" if ":" in server.host else server.host
        base = f"http://{shown}:{bound_port}"
        keyed = " (API key required)" if server.api_key else ""
        message = f"talk in a browser at {base}/ ; OpenAI-compatible API at {base}/v1{keyed}"
        click.echo(message, err=True)
        _run(config, engines, listener)
    finally:
        listener.close()


def share_cores(config: Config) -> Config:
    """Threads for the engines left on auto (0). Here the three run at once, so they share
    the cores rather than each taking all of them: llama.cpp's threads spin while they wait
    for each other, and on an oversubscribed 2-core machine a short reply went from 0.2 s
    to over 30 s."""
    cores = os.cpu_count() or 1
    return replace(
        config,
        stt=replace(config.stt, threads=config.stt.threads or max(1, cores // 4)),
        llm=replace(config.llm, threads=config.llm.threads or max(1, cores // 2)),
        tts=replace(config.tts, threads=config.tts.threads or max(1, cores // 4)),
    )


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None


def _run(config, engines, listener: socket.socket) -> None:
    import uvicorn

    from ..server.app import create_app
    from ..server.web import web_routes

    settings = uvicorn.Config(
        create_app(config, engines, routes=web_routes(config, engines)),
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        limit_concurrency=MAX_CONNECTIONS,
        server_header=False,
        lifespan="on",
    )
    uvicorn.Server(settings).run(sockets=[listener])
