"""The latency benchmark: each stage, the raw engines under it, voice to voice, cold start,
memory and barge-in (`assistant bench`, `scripts/benchmark.py`).

    corpus.py     the spoken utterances (espeak-ng), where their speech ends, word error rate
    stages.py     each stage through the project's providers, interleaved with the raw engines
    raw.py        the raw-engine floor: the engines called directly
    e2e.py        voice to voice through the real Conversation; the sequential chain; barge-in
    sinks.py      audio sinks that note when playback starts and stops
    coldstart.py  a fresh process to ready to listen, and its peak memory
    machine.py    the CPU, and how busy other processes kept it meanwhile
    stats.py      median and p95; report.py JSON, markdown and the targets
    run.py        all of it in order; command.py the CLI command
"""
