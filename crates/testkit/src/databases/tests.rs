//! Tests of the database servers: each starts a real one (the packages `postgresql` and `mariadb-server`).

use super::*;

#[test]
fn database_names_are_safe_identifiers() {
    assert_eq!(database_name("queue::claim-Order", 3), "t3_queue__claim_order");
    assert!(database_name(&"x".repeat(100), 12345).len() <= 63);
}

/// Starts a server, uses it, drops it: the port is closed and the directory gone when `drop` returns.
fn check_stop_on_drop<T>(dir: PathBuf, port: u16, server: T) {
    assert!(dir.join("data").is_dir(), "{}", dir.display());
    drop(server);
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} still answers");
}

#[test]
fn postgres_starts_serves_and_stops_on_drop() {
    let pg = PostgresServer::start().unwrap();
    let url = pg.fresh_database("drop test").unwrap();
    assert_eq!(url, format!("postgres://postgres@127.0.0.1:{}/t0_drop_test", pg.port()));
    pg.sql("t0_drop_test", "CREATE TABLE t (x INT)").unwrap();
    let err = pg.sql("t0_drop_test", "CREATE TABLE t (x INT)").unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
    check_stop_on_drop(pg.server.dir.clone(), pg.port(), pg);
}

#[test]
fn mariadb_starts_serves_and_stops_on_drop() {
    let db = MariaDbServer::start().unwrap();
    let url = db.fresh_database("drop test").unwrap();
    assert_eq!(url, format!("mysql://root@127.0.0.1:{}/t0_drop_test", db.port()));
    db.sql("CREATE TABLE t0_drop_test.t (x INT)").unwrap();
    let err = db.sql("CREATE TABLE t0_drop_test.t (x INT)").unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
    check_stop_on_drop(db.server.dir.clone(), db.port(), db);
}

#[test]
fn a_missing_binary_names_the_package() {
    let err = find_binary(&["sedge-no-such-binary"], "postgresql").unwrap_err().to_string();
    assert!(err.contains("sedge-no-such-binary not found") && err.contains("`postgresql`"), "{err}");
}
