"""Conversation: where a turn is heard (hearing, endpointing, barge_in), who has the turn
(engine), and how one answer is made and spoken (reply); events and options they share, the
sinks the voice goes to, and one turn from a file (turn)."""
