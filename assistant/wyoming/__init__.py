"""The Wyoming protocol server (`assistant wyoming`): the local models as Home Assistant's
speech-to-text, text-to-speech, conversation agent and wake-word detector, over one TCP (or
Unix) socket.

One small module per concern: `protocol` (reading events within limits, error events),
`info` (what `describe` answers), `asr`, `tts`, `handle`, `wake`, `handler` (one client's
events), `server` (the listener, the shared engines and its security story).
"""

DEFAULT_URI = "tcp://127.0.0.1:10700"  # the port Home Assistant users give the whole server
