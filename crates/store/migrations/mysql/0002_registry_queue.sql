-- sedge store schema for MariaDB and MySQL, version 2: the model registry's metadata and the asynchronous call
-- queue (the same tables as sqlite/0002_registry_queue.sql). Never edit once released, add a new file instead.
-- There are no partial indexes here: set_model_stage keeps exclusive stages exclusive by locking the name's rows.

-- Registered model versions. JSON columns hold objects (`metrics`, `params`) or OIP v2 metadata (`signature`).
CREATE TABLE models (
    id            BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name          VARCHAR(255)  NOT NULL,
    version       BIGINT        NOT NULL CHECK (version > 0),
    format        VARCHAR(255)  NOT NULL,
    sha256        VARCHAR(255)  NOT NULL,
    size_bytes    BIGINT        NOT NULL CHECK (size_bytes >= 0),
    model_path    VARCHAR(1024) NOT NULL,
    architecture  TEXT,
    dataset       VARCHAR(255),
    accuracy      DOUBLE,
    loss          DOUBLE,
    metrics       LONGTEXT      NOT NULL,
    params        LONGTEXT      NOT NULL,
    signature     LONGTEXT      NOT NULL,
    stage         VARCHAR(16)   NOT NULL DEFAULT 'none'
                  CHECK (stage IN ('none', 'staging', 'production', 'archived')),
    created_by    TEXT,
    created_at_ms BIGINT        NOT NULL,
    UNIQUE KEY models_name_version (name, version),
    KEY models_stage (stage, name),
    KEY models_dataset (dataset)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Accepted asynchronous calls, from `queued` to a final status. Headers are JSON arrays of [name, value] pairs.
CREATE TABLE async_calls (
    id                 VARCHAR(255) NOT NULL PRIMARY KEY,
    namespace          VARCHAR(255) NOT NULL,
    function           VARCHAR(255) NOT NULL,
    method             VARCHAR(255) NOT NULL,
    path               TEXT         NOT NULL,
    query              TEXT,
    headers            LONGTEXT     NOT NULL,
    body               LONGBLOB     NOT NULL,
    callback_url       TEXT,
    max_attempts       BIGINT       NOT NULL CHECK (max_attempts >= 0),
    status             VARCHAR(16)  NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts           BIGINT       NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_ms BIGINT       NOT NULL,
    enqueued_at_ms     BIGINT       NOT NULL,
    started_at_ms      BIGINT,
    finished_at_ms     BIGINT,
    result_status      BIGINT,
    result_headers     LONGTEXT,
    result_body        LONGBLOB,
    result_duration_ms BIGINT,
    KEY async_calls_due (status, next_attempt_at_ms),
    KEY async_calls_function (namespace, function, status),
    KEY async_calls_enqueued (enqueued_at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
