-- sedge store schema, version 1. Embedded by src/sqlite.rs; never edit once released, add 0002_*.sql instead.

-- Deployed functions. `deployment` is the FunctionDeployment as JSON; the key columns are authoritative.
CREATE TABLE functions (
    namespace        TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    deployment       TEXT    NOT NULL,
    replicas         INTEGER NOT NULL CHECK (replicas >= 0),
    created_at_ms    INTEGER NOT NULL,
    invocation_count INTEGER NOT NULL DEFAULT 0 CHECK (invocation_count >= 0),
    PRIMARY KEY (namespace, name)
) STRICT;

-- Secrets, raw bytes as given to the API.
CREATE TABLE secrets (
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     BLOB NOT NULL,
    PRIMARY KEY (namespace, name)
) STRICT;
