"""`assistant devices`: the microphones and speakers PortAudio sees."""

from __future__ import annotations

import click


@click.command()
def devices() -> None:
    """List the audio devices (use with --input-device / --output-device)."""
    from ..audio.devices import NO_INPUT_HELP, list_devices

    found = list_devices()
    if not found:
        click.echo(f"no audio devices were found. {NO_INPUT_HELP}")
    for device in found:
        roles = [r for r, n in (("in", device.inputs), ("out", device.outputs)) if n]
        defaults = [
            role
            for role, is_default in (
                ("default input", device.default_input),
                ("default output", device.default_output),
            )
            if is_default
        ]
        click.echo(
            f"{device.index:3}  {device.name}  ({'/'.join(roles)}, {device.sample_rate} Hz)"
            + (f"  [{', '.join(defaults)}]" if defaults else "")
        )
