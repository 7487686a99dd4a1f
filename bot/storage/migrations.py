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
    # 4: moderation — server blocklists, settings (quota overrides, the safety setting), quota
    #    exemptions, denied members and the moderators' audit log; jobs by person and server
    #    (quotas are counted from the jobs table at start).
    """
    CREATE TABLE blocklist_rules (
        guild_id INTEGER NOT NULL,
        rule_key TEXT    NOT NULL,
        rule     TEXT    NOT NULL,
        added_by INTEGER,
        added_at REAL    NOT NULL,
        PRIMARY KEY (guild_id, rule_key)
    );
    CREATE TABLE guild_settings (
        guild_id          INTEGER PRIMARY KEY,
        per_minute        INTEGER,
        per_hour          INTEGER,
        per_day           INTEGER,
        nsfw_allowed      INTEGER NOT NULL DEFAULT 0,
        default_blocklist INTEGER NOT NULL DEFAULT 1,
        updated_at        REAL    NOT NULL
    );
    CREATE TABLE quota_exemptions (
        guild_id INTEGER NOT NULL,
        role_id  INTEGER NOT NULL,
        added_by INTEGER,
        added_at REAL    NOT NULL,
        PRIMARY KEY (guild_id, role_id)
    );
    CREATE TABLE denied_members (
        guild_id  INTEGER NOT NULL,
        user_id   INTEGER NOT NULL,
        reason    TEXT    NOT NULL DEFAULT '',
        until     REAL,
        by_id     INTEGER,
        by_name   TEXT    NOT NULL DEFAULT '',
        denied_at REAL    NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    );
    CREATE TABLE audit_log (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id   INTEGER,
        at         REAL    NOT NULL,
        actor_id   INTEGER,
        actor_name TEXT    NOT NULL DEFAULT '',
        action     TEXT    NOT NULL,
        target     TEXT    NOT NULL DEFAULT '',
        detail     TEXT    NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_log_by_guild ON audit_log(guild_id, id);
    CREATE INDEX jobs_by_guild_user ON jobs(guild_id, user_id, created_at);
    CREATE INDEX jobs_by_created ON jobs(created_at);
    """,
    # 5: parties (topic, theme, roles, associations, the Art Expert's picks), votes on any
    #    result, star boards and what they reposted, channels shown on the live wall, results
    #    their authors deleted (left out of galleries); jobs by when they finished (the wall).
    """
    CREATE TABLE parties (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id           INTEGER,
        channel_id         INTEGER NOT NULL,
        topic              TEXT    NOT NULL,
        theme              TEXT,
        group_id           INTEGER NOT NULL REFERENCES job_groups(id),
        started_by         INTEGER,
        started_by_name    TEXT    NOT NULL DEFAULT '',
        started_at         REAL    NOT NULL,
        ends_at            REAL,
        ended_at           REAL,
        ended_by           INTEGER,
        summary_message_id INTEGER
    );
    -- One party per channel at a time, held by the database itself.
    CREATE UNIQUE INDEX parties_running_by_channel ON parties(channel_id) WHERE ended_at IS NULL;
    CREATE TABLE party_roles (
        party_id   INTEGER NOT NULL REFERENCES parties(id),
        role       TEXT    NOT NULL,
        user_id    INTEGER NOT NULL,
        user_name  TEXT    NOT NULL DEFAULT '',
        granted_by INTEGER,
        granted_at REAL    NOT NULL,
        PRIMARY KEY (party_id, role)
    );
    CREATE TABLE party_associations (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        party_id  INTEGER NOT NULL REFERENCES parties(id),
        user_id   INTEGER,
        user_name TEXT    NOT NULL DEFAULT '',
        text      TEXT    NOT NULL,
        added_at  REAL    NOT NULL
    );
    CREATE INDEX party_associations_by_party ON party_associations(party_id, id);
    CREATE TABLE party_picks (
        party_id  INTEGER NOT NULL REFERENCES parties(id),
        job_id    INTEGER NOT NULL REFERENCES jobs(id),
        picked_by INTEGER,
        picked_at REAL    NOT NULL,
        PRIMARY KEY (party_id, job_id)
    );
    CREATE TABLE votes (
        job_id   INTEGER NOT NULL REFERENCES jobs(id),
        user_id  INTEGER NOT NULL,
        voted_at REAL    NOT NULL,
        PRIMARY KEY (job_id, user_id)
    );
    CREATE TABLE starboards (
        guild_id   INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL,
        threshold  INTEGER NOT NULL,
        set_by     INTEGER,
        set_at     REAL    NOT NULL
    );
    CREATE TABLE starboard_posts (
        job_id     INTEGER PRIMARY KEY REFERENCES jobs(id),
        guild_id   INTEGER,
        channel_id INTEGER NOT NULL,
        message_id INTEGER,
        claimed_at REAL    NOT NULL
    );
    CREATE TABLE wall_channels (
        channel_id INTEGER PRIMARY KEY,
        guild_id   INTEGER,
        enabled_by INTEGER,
        enabled_at REAL    NOT NULL
    );
    CREATE TABLE job_deletions (
        job_id     INTEGER PRIMARY KEY REFERENCES jobs(id),
        deleted_by INTEGER,
        deleted_at REAL    NOT NULL
    );
    CREATE INDEX jobs_by_finished ON jobs(finished_at);
    """,
    # 6: the safety checker's verdict on each job's image (flagged images are never posted
    #    unblurred and stay out of galleries, /best, the star board and the wall).
    """
    ALTER TABLE jobs ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
