"""A saved conversation as Markdown, JSON or plain text (`assistant history export`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..errors import UsageError
from .records import ConversationSummary, SavedConversation, SearchHit, Turn

FORMATS = ("md", "json", "txt")
SPEAKERS = {"user": "You", "assistant": "Assistant"}


def render(conversation: SavedConversation, fmt: str) -> str:
    """The conversation in `fmt` (md, json or txt), ending with a newline."""
    if fmt == "json":
        return json.dumps(conversation_dict(conversation), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return _markdown(conversation)
    if fmt == "txt":
        return _text(conversation)
    raise UsageError(f"unknown export format '{fmt}'. Available: {', '.join(FORMATS)}")


def conversation_dict(conversation: SavedConversation) -> dict[str, Any]:
    """Every saved field, as JSON-ready values (times in epoch seconds, latencies in ms)."""
    return {
        "id": conversation.id,
        "title": conversation.title,
        "started_at": conversation.started_at,
        "updated_at": conversation.updated_at,
        "meta": dict(conversation.meta),
        "turns": [turn_dict(turn) for turn in conversation.turns],
    }


def turn_dict(turn: Turn) -> dict[str, Any]:
    record = turn.record
    feedback = turn.feedback
    return {
        "id": turn.id,
        "role": record.role,
        "text": record.text,
        "generated": record.generated,
        "interrupted": record.interrupted,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "latencies_ms": dict(record.latencies),
        "stt_model": record.stt_model,
        "llm_model": record.llm_model,
        "voice": record.voice,
        "feedback": None
        if feedback is None
        else {"rating": feedback.rating, "comment": feedback.comment, "at": feedback.created_at},
    }


def summary_dict(summary: ConversationSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "title": summary.title,
        "started_at": summary.started_at,
        "updated_at": summary.updated_at,
        "turns": summary.turns,
    }


def hit_dict(hit: SearchHit) -> dict[str, Any]:
    return {
        "conversation_id": hit.conversation_id,
        "turn_id": hit.turn_id,
        "role": hit.role,
        "text": hit.text,
        "started_at": hit.started_at,
    }


def local_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def title_of(conversation: SavedConversation) -> str:
    first = next((t.record.text for t in conversation.turns if t.record.role == "user"), "")
    return conversation.title or first or f"Conversation {conversation.id}"


def _markdown(conversation: SavedConversation) -> str:
    lines = [
        f"# {title_of(conversation)}",
        "",
        f"Conversation {conversation.id}, started {local_time(conversation.started_at)}, "
        f"{_count(len(conversation.turns), 'turn')}.",
    ]
    models = _models(conversation)
    if models:
        lines.append(f"Models: {models}.")
    for turn in conversation.turns:
        record = turn.record
        lines += ["", f"**{SPEAKERS[record.role]}** ({local_time(record.started_at)[11:]}):"]
        lines += ["", record.text or "*(nothing was spoken)*"]
        if record.interrupted:
            unspoken = _unspoken(turn)
            lines += ["", "*Interrupted.*" + (f" Not spoken: {unspoken}" if unspoken else "")]
        notes = [f"{stage} {ms:.0f} ms" for stage, ms in record.latencies.items()]
        if turn.feedback:
            verdict = "thumbs up" if turn.feedback.rating > 0 else "thumbs down"
            notes.append(f"feedback: {verdict}" + _quoted(turn.feedback.comment))
        if notes:
            lines += ["", f"<sub>{' · '.join(notes)}</sub>"]
    return "\n".join(lines) + "\n"


def _text(conversation: SavedConversation) -> str:
    lines = [
        f"Conversation {conversation.id}: {title_of(conversation)}",
        f"started {local_time(conversation.started_at)}",
        "",
    ]
    for turn in conversation.turns:
        record = turn.record
        speaker = "you" if record.role == "user" else "assistant"
        marker = " [interrupted]" if record.interrupted else ""
        lines.append(f"{speaker}: {record.text}{marker}")
    return "\n".join(lines) + "\n"


def _unspoken(turn: Turn) -> str:
    record = turn.record
    if record.generated.startswith(record.text):
        return record.generated[len(record.text) :].strip()
    return record.generated if record.generated != record.text else ""


def _models(conversation: SavedConversation) -> str:
    seen: dict[str, None] = {}
    for turn in conversation.turns:
        record = turn.record
        for label, value in (("stt", record.stt_model), ("llm", record.llm_model)):
            if value:
                seen[f"{label} {value}"] = None
        if record.voice:
            seen[f"voice {record.voice}"] = None
    return ", ".join(seen)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _quoted(comment: str) -> str:
    return f' "{comment}"' if comment else ""
