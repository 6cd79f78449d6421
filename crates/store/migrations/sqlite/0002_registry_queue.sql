-- sedge store schema, version 2: the model registry's metadata and the asynchronous call queue (issue #7).
-- Embedded by src/sqlite.rs; never edit once released, add 0003_*.sql instead.

-- Registered model versions. JSON columns hold objects (`metrics`, `params`) or OIP v2 metadata (`signature`).
CREATE TABLE models (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    version       INTEGER NOT NULL CHECK (version > 0),
    format        TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
    model_path    TEXT    NOT NULL,
    architecture  TEXT,
    dataset       TEXT,
    accuracy      REAL,
    loss          REAL,
    metrics       TEXT    NOT NULL DEFAULT '{}',
    params        TEXT    NOT NULL DEFAULT '{}',
    signature     TEXT    NOT NULL DEFAULT 'null',
    stage         TEXT    NOT NULL DEFAULT 'none' CHECK (stage IN ('none', 'staging', 'production', 'archived')),
    created_by    TEXT,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (name, version)
) STRICT;

CREATE INDEX models_stage ON models (stage, name);
-- Listing order (name, newest version first) without a sort: list_models_json streams rows in this order.
CREATE INDEX models_listing ON models (name, version DESC);
CREATE INDEX models_dataset ON models (dataset);
-- At most one version per name in each exclusive stage (set_model_stage archives the holder first).
CREATE UNIQUE INDEX models_exclusive_stage ON models (name, stage) WHERE stage IN ('staging', 'production');

-- Accepted asynchronous calls, from `queued` to a final status. Headers are JSON arrays of [name, value] pairs.
CREATE TABLE async_calls (
    id                 TEXT    PRIMARY KEY,
    namespace          TEXT    NOT NULL,
    function           TEXT    NOT NULL,
    method             TEXT    NOT NULL,
    path               TEXT    NOT NULL,
    query              TEXT,
    headers            TEXT    NOT NULL DEFAULT '[]',
    body               BLOB    NOT NULL,
    callback_url       TEXT,
    max_attempts       INTEGER NOT NULL CHECK (max_attempts >= 0),
    status             TEXT    NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_ms INTEGER NOT NULL,
    enqueued_at_ms     INTEGER NOT NULL,
    started_at_ms      INTEGER,
    finished_at_ms     INTEGER,
    result_status      INTEGER,
    result_headers     TEXT,
    result_body        BLOB,
    result_duration_ms INTEGER
) STRICT;

CREATE INDEX async_calls_due ON async_calls (status, next_attempt_at_ms);
CREATE INDEX async_calls_function ON async_calls (namespace, function, status);
CREATE INDEX async_calls_enqueued ON async_calls (enqueued_at_ms);
