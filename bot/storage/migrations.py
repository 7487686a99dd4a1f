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
    # 2: channel themes with their audit trail, stream prompt pools and streams.
    """
    CREATE TABLE channel_themes (
        channel_id  INTEGER PRIMARY KEY,
        guild_id    INTEGER NOT NULL,
        theme       TEXT    NOT NULL,
        set_by      INTEGER,
        set_by_name TEXT    NOT NULL DEFAULT '',
        set_at      REAL    NOT NULL
    );
    CREATE INDEX channel_themes_by_guild ON channel_themes(guild_id);
    CREATE TABLE theme_changes (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id   INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        user_id    INTEGER,
        user_name  TEXT    NOT NULL DEFAULT '',
        changed_at REAL    NOT NULL,
        old_theme  TEXT,
        new_theme  TEXT
    );
    CREATE INDEX theme_changes_by_channel ON theme_changes(channel_id, id);
    CREATE TABLE stream_prompts (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id   INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        prompt     TEXT    NOT NULL,
        added_by   INTEGER,
        added_at   REAL    NOT NULL
    );
    CREATE INDEX stream_prompts_by_channel ON stream_prompts(channel_id, id);
    CREATE TABLE streams (
        channel_id    INTEGER PRIMARY KEY,
        guild_id      INTEGER NOT NULL,
        every         REAL    NOT NULL,
        running       INTEGER NOT NULL DEFAULT 1,
        started_by    INTEGER,
        started_at    REAL    NOT NULL,
        last_image_at REAL,
        stopped_at    REAL,
        stop_reason   TEXT
    );
    CREATE INDEX jobs_by_channel ON jobs(channel_id, source, created_at);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
