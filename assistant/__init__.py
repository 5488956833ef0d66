"""An offline voice assistant: faster-whisper, llama.cpp and Piper behind OpenAI-shaped APIs."""

import os

__version__ = "0.1.0"

# numpy's OpenBLAS: one thread (unless the user says otherwise), set before numpy is imported.
# Its only work here is small (log-mel features for Whisper and the end-of-turn model), and with
# two threads its second one spun after each of those, un-niced, beside Whisper and llama.cpp:
# ~60 ms of a core per end-of-turn check, for nothing (README, "numpy on one thread").
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
