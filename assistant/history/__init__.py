"""History: saved conversations in SQLite (records, db, store), exports, the recorder that
saves a conversation's turns as they end, and opt-in audio keeping."""
