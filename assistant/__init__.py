"""An offline voice assistant: faster-whisper, llama.cpp and Piper behind OpenAI-shaped APIs."""

__version__ = "0.1.0"
