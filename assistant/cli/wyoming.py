"""`assistant wyoming`: the local models as a Wyoming server, for Home Assistant's Assist
pipelines (speech to text, text to speech, the conversation agent and wake words)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import click

from ..errors import UsageError
from ..wyoming import DEFAULT_URI
from .context import config_of
from .serve import share_cores
from .voices import language_option


@click.command()
@click.option(
    "--uri",
    default=DEFAULT_URI,
    show_default=True,
    help="Where to listen: tcp://HOST:PORT or unix:///path/to/socket. Loopback by default; "
    "any other address needs --allow-remote (port 0 picks a free one).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a network address in --uri. Wyoming has no authentication: anyone who can "
    "reach the port can use the models, so keep it behind a firewall.",
)
@click.option(
    "--zeroconf",
    "zeroconf_name",
    is_flag=False,
    flag_value="assistant",
    default=None,
    metavar="[NAME]",
    help="Announce the server over mDNS (zeroconf) as NAME (default: assistant), so Home "
    "Assistant discovers it. Off by default; needs a network address and the zeroconf package.",
)
@click.option("--no-stt", is_flag=True, help="Do not offer speech to text (asr).")
@click.option("--no-tts", is_flag=True, help="Do not offer text to speech (tts).")
@click.option("--no-llm", is_flag=True, help="Do not offer the conversation agent (handle).")
@click.option("--no-wake", is_flag=True, help="Do not offer the downloaded wake words (wake).")
@language_option("spoken to the speech to text, unless a request names one")
@click.pass_context
def wyoming(
    ctx: click.Context,
    uri: str,
    allow_remote: bool,
    zeroconf_name: str | None,
    no_stt: bool,
    no_tts: bool,
    no_llm: bool,
    no_wake: bool,
    language: str | None,
) -> None:
    """Serve the models over the Wyoming protocol (Home Assistant's local voice).

    Offers, from one process: asr (transcribe + audio -> transcript, streamed too), tts
    (synthesize -> audio, streamed sentence by sentence), handle (transcript -> the assistant's
    answer, one conversation per conversation_id), wake (detect + audio -> detection of the
    downloaded wake words) and describe -> info. In Home Assistant:
    Settings > Devices & services > Add integration > Wyoming Protocol, host and port of --uri.
    """
    from ..history.store import open_history
    from ..providers.loading import load_engines, warm_up
    from ..providers.store import ModelStore
    from ..wyoming.server import (
        Address,
        check_address,
        downloaded_wake_words,
        serve,
        shared_parts,
    )

    address = Address.parse(uri)
    check_address(address, allow_remote=allow_remote, warn=lambda text: click.echo(text, err=True))
    if zeroconf_name is not None:
        _check_announceable(address)
    if no_stt and no_tts and no_llm and no_wake:
        raise UsageError("--no-stt, --no-tts, --no-llm and --no-wake leave nothing to serve")
    config = share_cores(config_of(ctx, language=language))
    words = () if no_wake else downloaded_wake_words(ModelStore.open(config.models.dir))
    if no_stt and no_tts and no_llm and not words:
        raise UsageError(
            "--no-stt, --no-tts and --no-llm leave only wake words to serve, and none is "
            "downloaded: assistant models pull microwakeword"
        )
    engines = load_engines(config, stt=not no_stt, chat=not no_llm, tts=not no_tts)
    warm_up(engines, config.llm.system_prompt)
    history = open_history(config.history)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def ready(bound: str) -> None:
        stages = (("asr", no_stt), ("tts", no_tts), ("handle", no_llm), ("wake", not words))
        offered = [name for name, off in stages if not off]
        click.echo(f"Wyoming server on {bound} ({', '.join(offered)})", err=True)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            shared = shared_parts(config, engines, history, wake_words=words)
            asyncio.run(serve(address, shared, on_ready=ready, zeroconf_name=zeroconf_name))
    finally:
        history.close()


def _check_announceable(address) -> None:
    """zeroconf tells the network where to connect: a loopback or Unix address cannot be
    reached from there."""
    try:
        socket.inet_aton(address.host)
    except OSError:
        ok = False
    else:
        ok = address.scheme == "tcp" and not address.host.startswith("127.")
    if not ok:
        raise UsageError(
            "--zeroconf announces the server to the network, so it needs an IPv4 network "
            "address: e.g. --uri tcp://0.0.0.0:10700 --allow-remote"
        )
