-- sedge store schema for PostgreSQL, version 1 (the same tables as sqlite/0001_init.sql). Embedded by
-- src/postgres.rs; never edit once released, add a new file instead. Keys use the "C" collation so that they
-- compare and sort by bytes, as on SQLite, whatever the database's locale.

-- Deployed functions. `deployment` is the FunctionDeployment as JSON; the key columns are authoritative.
CREATE TABLE functions (
    namespace        TEXT COLLATE "C" NOT NULL,
    name             TEXT COLLATE "C" NOT NULL,
    deployment       TEXT   NOT NULL,
    replicas         BIGINT NOT NULL CHECK (replicas >= 0),
    created_at_ms    BIGINT NOT NULL,
    invocation_count BIGINT NOT NULL DEFAULT 0 CHECK (invocation_count >= 0),
    PRIMARY KEY (namespace, name)
);

-- Secrets, raw bytes as given to the API.
CREATE TABLE secrets (
    namespace TEXT COLLATE "C" NOT NULL,
    name      TEXT COLLATE "C" NOT NULL,
    value     BYTEA NOT NULL,
    PRIMARY KEY (namespace, name)
);
