"""The listener: `tcp://HOST:PORT` (loopback unless remote clients are explicitly allowed:
Wyoming has no authentication) or `unix://PATH`, one `ClientHandler` per connection, all of them
sharing the engines (each on its own thread), the conversations and the history; optionally
announced to Home Assistant over zeroconf."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..config import Config, is_loopback, language_code, voice_map
from ..conversation.options import conversation_options
from ..conversation.reply import Workers
from ..errors import UsageError
from ..history.records import History
from ..providers.loading import Engines
from ..providers.store import ModelStore
from ..providers.wake_words import WakeWord, wake_words
from . import DEFAULT_URI
from .handle import Conversations
from .handler import ClientHandler, Shared
from .info import build_info, model_languages
from .protocol import MAX_HEADER_BYTES
from .tts import VoiceSettings
from .wake import WakeWords


@dataclass(frozen=True)
class Address:
    scheme: str  # tcp | unix
    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse(cls, uri: str) -> Address:
        parsed = urlparse(uri)
        if parsed.scheme == "unix" and (parsed.path or parsed.netloc):
            return cls("unix", path=parsed.netloc + parsed.path)
        if parsed.scheme == "tcp":
            try:
                port = parsed.port
            except ValueError:
                port = None
            if parsed.hostname and port is not None:
                return cls("tcp", host=parsed.hostname, port=port)
        raise UsageError(
            f"--uri '{uri}' is not a Wyoming address: give tcp://HOST:PORT "
            f"(e.g. {DEFAULT_URI}) or unix:///path/to/socket"
        )


def check_address(address: Address, *, allow_remote: bool, warn: Callable[[str], None]) -> None:
    """Refuse a network address unless remote clients are allowed; warn when they are."""
    if address.scheme != "tcp" or is_loopback(address.host):
        return
    if not allow_remote:
        raise UsageError(
            f"refusing to listen on {address.host}: Wyoming has no authentication, so anyone "
            "who can reach this machine could use its models and read its conversations. "
            "Listen on 127.0.0.1 (Home Assistant on this machine), or add --allow-remote on a "
            "trusted network (behind a firewall that admits only Home Assistant)"
        )
    warn(
        f"warning: listening on {address.host}:{address.port} with no authentication: anyone "
        "who can reach this port can use the models and the conversations. Keep it behind a "
        "firewall that admits only Home Assistant."
    )


def shared_parts(
    config: Config, engines: Engines, history: History, *, wake_words: tuple[WakeWord, ...] = ()
) -> Shared:
    """What every connection shares; `wake_words`: the (downloaded) ones offered."""
    workers = Workers()
    store = ModelStore.open(config.models.dir)
    catalog = store.catalog
    options = conversation_options(config)
    conversations = Conversations(
        engines.chat, workers, system_prompt=options.system_prompt,
        history=history, llm_model=config.llm.model,
        settings=options.text_reply_settings(),
    )  # fmt: skip
    language = config.stt.language
    voices = VoiceSettings(
        config.tts.voice or None, config.tts.speed, dict(voice_map(config.tts.voices_by_language))
    )
    return Shared(
        engines, workers, conversations, build_info(config, engines, catalog, wake_words),
        None if language in ("", "auto") else language_code(language),
        frozenset(model_languages(catalog, config.stt.model, "stt")), voices,
        WakeWords(store, wake_words) if wake_words else None,
    )  # fmt: skip


def downloaded_wake_words(store: ModelStore) -> tuple[WakeWord, ...]:
    """The wake words whose models are in the store (the ones the server can listen for)."""
    return tuple(word for word in wake_words(store) if word.downloaded)


async def serve(
    address: Address,
    shared: Shared,
    *,
    on_ready: Callable[[str], None],
    zeroconf_name: str | None = None,
) -> None:
    """Serve until SIGTERM (or cancelled: Ctrl-C); `on_ready` gets the address listened on.
    Stopping closes the clients' connections rather than waiting for them to hang up."""
    writers: set[asyncio.StreamWriter] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await ClientHandler(shared, reader, writer).run()
        finally:
            writers.discard(writer)

    server = await _listen(address, connected)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # signal handlers: Unix only
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    announcement = None
    try:
        bound = _bound(address, server)
        announcement = await _announce(zeroconf_name, bound) if zeroconf_name else None
        on_ready(bound)
        await stop.wait()
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        if announcement is not None:
            await announcement.async_close()
        shared.workers.shutdown()
        if address.scheme == "unix":
            Path(address.path).unlink(missing_ok=True)


async def _listen(address: Address, connected) -> asyncio.Server:
    try:
        if address.scheme == "unix":
            Path(address.path).unlink(missing_ok=True)
            return await asyncio.start_unix_server(connected, address.path, limit=MAX_HEADER_BYTES)
        return await asyncio.start_server(
            connected, address.host, address.port, limit=MAX_HEADER_BYTES
        )
    except OSError as error:
        where = address.path or f"{address.host}:{address.port}"
        raise UsageError(f"cannot listen on {where}: {error.strerror or error}") from None


def _bound(address: Address, server: asyncio.Server) -> str:
    if address.scheme == "unix":
        return f"unix://{address.path}"
    host, port = server.sockets[0].getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"tcp://{shown}:{port}"


async def _announce(name: str, bound: str):
    """Register `_wyoming._tcp` over mDNS, so Home Assistant discovers the server."""
    try:
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
    except ImportError:
        raise UsageError(
            "--zeroconf needs the zeroconf package: pip install 'offline-voice-assistant[zeroconf]'"
        ) from None
    address = urlparse(bound)
    host = address.hostname or ""
    if host in ("0.0.0.0", "::"):
        host = _lan_address()
    info = AsyncServiceInfo(
        "_wyoming._tcp.local.", f"{name}._wyoming._tcp.local.",
        addresses=[socket.inet_aton(host)], port=address.port,
    )  # fmt: skip
    zeroconf = AsyncZeroconf()
    await zeroconf.async_register_service(info)
    return zeroconf


def _lan_address() -> str:
    """This machine's address on the network (no packet is sent: a UDP socket is only aimed)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as probe:
        probe.connect(("224.0.0.251", 5353))  # the mDNS group
        return probe.getsockname()[0]
