"""Versioned schema migrations; ``PRAGMA user_version`` holds the number applied last."""

from __future__ import annotations

# Each entry upgrades the schema from version i to i + 1. Never edit an entry that has shipped:
# append a new one.
MIGRATIONS: list[str] = [
    # 1: the job table — every request, its recipe, where its answer goes and what became of it.
    """
    CREATE TABLE jobs (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        state             TEXT    NOT NULL,
        recipe            TEXT    NOT NULL,
        source            TEXT    NOT NULL DEFAULT 'cli',
        user_id           INTEGER,
        user_name         TEXT    NOT NULL DEFAULT '',
        guild_id          INTEGER,
        channel_id        INTEGER,
        interaction_token TEXT,
        token_expires_at  REAL,
        attachment_limit  INTEGER,
        parent_id         INTEGER REFERENCES jobs(id),
        priority          INTEGER NOT NULL DEFAULT 0,
        attempts          INTEGER NOT NULL DEFAULT 0,
        created_at        REAL    NOT NULL,
        started_at        REAL,
        finished_at       REAL,
        step_seconds      REAL,
        output_path       TEXT,
        error             TEXT,
        status_message_id INTEGER,
        message_id        INTEGER
    );
    CREATE INDEX jobs_by_state ON jobs(state, priority, id);
    CREATE INDEX jobs_by_user ON jobs(user_id, state);
    CREATE INDEX jobs_by_parent ON jobs(parent_id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
