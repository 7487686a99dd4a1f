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
    # 3: lineage (several parents per job, each link with a kind), job groups (a grid, a morph's
    #    frames, later a party) and the attachments store (input images kept by content hash).
    """
    CREATE TABLE job_links (
        child_id  INTEGER NOT NULL REFERENCES jobs(id),
        parent_id INTEGER NOT NULL REFERENCES jobs(id),
        kind      TEXT    NOT NULL,
        position  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (child_id, parent_id, kind)
    );
    CREATE INDEX job_links_by_parent ON job_links(parent_id, kind);
    -- Until now a job had one parent, and only a Reroll made one.
    INSERT INTO job_links (child_id, parent_id, kind, position)
        SELECT id, parent_id, 'reroll', 0 FROM jobs WHERE parent_id IS NOT NULL;
    CREATE TABLE job_groups (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        kind              TEXT    NOT NULL,
        guild_id          INTEGER,
        channel_id        INTEGER,
        created_by        INTEGER,
        created_at        REAL    NOT NULL,
        title             TEXT    NOT NULL DEFAULT '',
        data              TEXT    NOT NULL DEFAULT '{}',
        status_message_id INTEGER,
        message_id        INTEGER
    );
    CREATE TABLE group_members (
        group_id INTEGER NOT NULL REFERENCES job_groups(id),
        job_id   INTEGER NOT NULL REFERENCES jobs(id),
        position INTEGER NOT NULL,
        PRIMARY KEY (group_id, job_id)
    );
    CREATE INDEX group_members_by_job ON group_members(job_id);
    CREATE TABLE attachments (
        digest     TEXT    PRIMARY KEY,
        mime       TEXT    NOT NULL,
        size       INTEGER NOT NULL,
        width      INTEGER NOT NULL,
        height     INTEGER NOT NULL,
        path       TEXT    NOT NULL,
        created_at REAL    NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
