-- sedge store schema for MariaDB (10.6+) and MySQL (8.0+), version 1: the same tables as sqlite/0001_init.sql.
-- Embedded by src/mysql.rs; never edit once released, add a new file instead. Tables are InnoDB in utf8mb4 with
-- the binary collation, so keys are case-sensitive and sort by bytes, as on SQLite.

-- Deployed functions. `deployment` is the FunctionDeployment as JSON; the key columns are authoritative.
CREATE TABLE functions (
    namespace        VARCHAR(255) NOT NULL,
    name             VARCHAR(255) NOT NULL,
    deployment       LONGTEXT     NOT NULL,
    replicas         BIGINT       NOT NULL CHECK (replicas >= 0),
    created_at_ms    BIGINT       NOT NULL,
    invocation_count BIGINT       NOT NULL DEFAULT 0 CHECK (invocation_count >= 0),
    PRIMARY KEY (namespace, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Secrets, raw bytes as given to the API.
CREATE TABLE secrets (
    namespace VARCHAR(255) NOT NULL,
    name      VARCHAR(255) NOT NULL,
    value     LONGBLOB     NOT NULL,
    PRIMARY KEY (namespace, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
