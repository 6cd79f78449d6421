//! Real database servers for tests: a private PostgreSQL ([`PostgresServer`]) or MariaDB ([`MariaDbServer`])
//! in a temporary directory, on 127.0.0.1 and a free port, started from the machine's own binaries.
//!
//! Each server gets a fresh data directory (`initdb` / `mariadb-install-db`), tuned for tests (no fsync), and
//! is ready when its client can run a statement; the database `sedge` then exists. Tests that share one server
//! ([`PostgresServer::shared`], kept in a `static`) each make their own database with `fresh_database`.
//!
//! The server runs under a small `sh` supervisor that waits for its stdin to close: when the handle is
//! dropped, or when the test process exits without dropping it (a `static`), the supervisor stops the server
//! (PostgreSQL: SIGINT, its "fast" shutdown, which does not wait for clients; MariaDB: SIGTERM), waits for it
//! and removes the directory. [`Drop`] waits up to [`STOP_TIMEOUT`], then kills.
//!
//! PostgreSQL refuses to run as root: as root, `initdb` and `postgres` run as the `postgres` OS user (through
//! `setpriv`), which is given the temporary directory. `mariadbd` runs with `--user=root`. Binaries are looked up
//! in `PATH`, `/usr/lib/postgresql/*/bin` (newest first), `/usr/sbin` and `/usr/bin`; a missing one fails the
//! caller with a message naming the Debian package to install (`postgresql`, `mariadb-server`).

use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a server may take to accept connections after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Drop`] waits for a server to stop before killing it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `$3…` in the background with its output in `$1/server.log`, prints its pid, waits for stdin to close,
/// then sends it signal `$2`, waits for it and removes `$1`.
const SUPERVISOR: &str = r#"
dir=$1; sig=$2; shift 2
"$@" >>"$dir/server.log" 2>&1 </dev/null &
pid=$!
echo "$pid"
cat >/dev/null
kill -s "$sig" "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"#;

/// A private PostgreSQL server, stopped and removed on drop.
#[derive(Debug)]
pub struct PostgresServer {
    server: Supervised,
    /// The `psql` beside `initdb`, to create databases (trust authentication on TCP: no password).
    psql: PathBuf,
    next_database: AtomicU32,
}

/// A private MariaDB server, stopped and removed on drop.
#[derive(Debug)]
pub struct MariaDbServer {
    server: Supervised,
    client: PathBuf,
    next_database: AtomicU32,
}

impl PostgresServer {
    /// Creates a cluster in a temporary directory, starts `postgres` on a free loopback port and waits (up to
    /// [`START_TIMEOUT`]) until it accepts connections; the database `sedge` exists then.
    pub fn start() -> anyhow::Result<PostgresServer> {
        // Through links (/usr/local/bin/initdb → /usr/lib/postgresql/15/bin/initdb): its siblings are its version.
        let initdb = find_binary(&["initdb"], "postgresql")?;
        let initdb = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        let bin = initdb.parent().unwrap_or(Path::new("/")).to_path_buf();
        let postgres = find_in(&bin, "postgres").map_or_else(|| find_binary(&["postgres"], "postgresql"), Ok)?;
        let psql = find_in(&bin, "psql").map_or_else(|| find_binary(&["psql"], "postgresql"), Ok)?;
        let dir = temp_dir("sedge-postgres-")?;
        let as_postgres = running_as_root()?;
        if as_postgres {
            give_to_os_user(&dir, "postgres")?;
        }
        let data = dir.join("data");
        let mut init = as_user(as_postgres, &initdb);
        init.arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"]);
        run_quietly(init, "initdb").inspect_err(|_| remove_dir(&dir))?;
        let port = free_port().inspect_err(|_| remove_dir(&dir))?;
        let mut server = as_user(as_postgres, &postgres);
        server.arg("-D").arg(&data).args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"]);
        server.arg("-c").arg(format!("unix_socket_directories={}", dir.display()));
        for setting in ["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300"] {
            server.args(["-c", setting]);
        }
        let server = Supervised::start(dir, "INT", server, port)?;
        let pg = PostgresServer { server, psql, next_database: AtomicU32::new(0) };
        pg.server.wait_ready("PostgreSQL", || pg.sql("postgres", "CREATE DATABASE sedge"))?;
        Ok(pg)
    }

    /// One server for the whole test process, started on first use. A failed start is remembered, so every
    /// test that asks fails with the same message instead of trying again.
    pub fn shared() -> anyhow::Result<&'static PostgresServer> {
        static SHARED: LazyLock<Result<PostgresServer, String>> =
            LazyLock::new(|| PostgresServer::start().map_err(|e| format!("{e:#}")));
        SHARED.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The URL of the database `sedge`: `postgres://postgres@127.0.0.1:PORT/sedge`.
    pub fn url(&self) -> String {
        self.database_url("sedge")
    }

    /// Creates a new, empty database named after `name` (plus a counter, so every call gets its own) and
    /// returns its URL.
    pub fn fresh_database(&self, name: &str) -> anyhow::Result<String> {
        let database = database_name(name, self.next_database.fetch_add(1, Ordering::Relaxed));
        self.sql("postgres", &format!("CREATE DATABASE {database}"))?;
        Ok(self.database_url(&database))
    }

    fn database_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.server.port)
    }

    /// Runs one statement with `psql` in `database`.
    fn sql(&self, database: &str, statement: &str) -> anyhow::Result<()> {
        let mut psql = Command::new(&self.psql);
        psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"]).args([
            "-p",
            &self.server.port.to_string(),
            "-d",
            database,
            "-c",
            statement,
        ]);
        run_quietly(psql, "psql")
    }
}

impl MariaDbServer {
    /// Creates a data directory in a temporary directory, starts `mariadbd` on a free loopback port and waits
    /// (up to [`START_TIMEOUT`]) until it accepts connections; the database `sedge` exists then.
    pub fn start() -> anyhow::Result<MariaDbServer> {
        let mariadbd = find_binary(&["mariadbd", "mysqld"], "mariadb-server")?;
        let install_db = find_binary(&["mariadb-install-db", "mysql_install_db"], "mariadb-server")?;
        let client = find_binary(&["mariadb", "mysql"], "mariadb-server")?;
        let dir = temp_dir("sedge-mariadb-")?;
        let root = running_as_root()?;
        let data = dir.join("data");
        let mut install = Command::new(&install_db);
        install.args(["--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db"]);
        install.arg(format!("--datadir={}", data.display()));
        if root {
            install.arg("--user=root");
        }
        run_quietly(install, "mariadb-install-db").inspect_err(|_| remove_dir(&dir))?;
        let port = free_port().inspect_err(|_| remove_dir(&dir))?;
        let mut server = Command::new(&mariadbd);
        server.arg("--no-defaults").arg(format!("--datadir={}", data.display()));
        server.arg(format!("--port={port}")).arg("--bind-address=127.0.0.1");
        server.arg(format!("--socket={}", dir.join("mysqld.sock").display()));
        server.arg(format!("--pid-file={}", dir.join("mysqld.pid").display()));
        server.arg(format!("--tmpdir={}", dir.display()));
        server.args(["--skip-log-bin", "--skip-name-resolve", "--max-connections=300"]);
        server.args(["--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"]);
        if root {
            server.arg("--user=root");
        }
        let server = Supervised::start(dir, "TERM", server, port)?;
        let db = MariaDbServer { server, client, next_database: AtomicU32::new(0) };
        db.server.wait_ready("MariaDB", || db.sql("CREATE DATABASE IF NOT EXISTS sedge"))?;
        Ok(db)
    }

    /// One server for the whole test process, started on first use (see [`PostgresServer::shared`]).
    pub fn shared() -> anyhow::Result<&'static MariaDbServer> {
        static SHARED: LazyLock<Result<MariaDbServer, String>> =
            LazyLock::new(|| MariaDbServer::start().map_err(|e| format!("{e:#}")));
        SHARED.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The URL of the database `sedge`: `mysql://root@127.0.0.1:PORT/sedge`.
    pub fn url(&self) -> String {
        self.database_url("sedge")
    }

    /// Creates a new, empty database named after `name` (plus a counter, so every call gets its own) and
    /// returns its URL.
    pub fn fresh_database(&self, name: &str) -> anyhow::Result<String> {
        let database = database_name(name, self.next_database.fetch_add(1, Ordering::Relaxed));
        self.sql(&format!("CREATE DATABASE {database}"))?;
        Ok(self.database_url(&database))
    }

    fn database_url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.server.port)
    }

    /// Runs one statement with the `mariadb` client.
    fn sql(&self, statement: &str) -> anyhow::Result<()> {
        let mut client = Command::new(&self.client);
        client.args(["--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-u", "root"]);
        client.arg(format!("--port={}", self.server.port)).args(["-e", statement]);
        run_quietly(client, "mariadb")
    }
}

/// A server process under the `sh` supervisor.
#[derive(Debug)]
struct Supervised {
    supervisor: Child,
    /// Closing it tells the supervisor to stop the server.
    stdin: Option<ChildStdin>,
    server_pid: u32,
    dir: PathBuf,
    port: u16,
}

impl Supervised {
    /// Starts `server` under the supervisor, which owns `dir` from now on and stops the server with `signal`.
    fn start(dir: PathBuf, signal: &str, server: Command, port: u16) -> anyhow::Result<Supervised> {
        let mut supervisor = Command::new("sh");
        supervisor.args(["-c", SUPERVISOR, "sh"]).arg(&dir).arg(signal).arg(server.get_program());
        supervisor.args(server.get_args()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = supervisor.spawn().inspect_err(|_| remove_dir(&dir)).context("starting sh")?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        let stdout = child.stdout.take().context("supervisor stdout")?;
        BufReader::new(stdout).read_line(&mut line).context("reading the server's pid")?;
        let server_pid = line.trim().parse().with_context(|| format!("supervisor printed {line:?}, not a pid"))?;
        Ok(Supervised { supervisor: child, stdin, server_pid, dir, port })
    }

    /// Tries `probe` until it succeeds, the server exits, or [`START_TIMEOUT`] passes.
    fn wait_ready(&self, what: &str, probe: impl Fn() -> anyhow::Result<()>) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let last = match probe() {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if !self.server_alive() {
                bail!("{what} exited while starting ({last:#}); its log ends:\n{}", self.log_tail());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{what} on 127.0.0.1:{} did not accept connections within {} s ({last:#}); its log ends:\n{}",
                    self.port,
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            // Polling a starting server, bounded by the deadline above.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the server process exists and is not a zombie.
    fn server_alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.server_pid)).unwrap_or_default();
        // The state follows the command name, which is in parentheses.
        stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    }

    /// The last few KiB of the server's output.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.join("server.log")) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        if text.trim().is_empty() { "(empty)".to_string() } else { text }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.supervisor.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = Command::new("kill").args(["-KILL", &self.server_pid.to_string()]).status();
                    let _ = self.supervisor.kill();
                    let _ = self.supervisor.wait();
                    break;
                }
                // Polling the supervisor's exit, bounded by the deadline above.
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        remove_dir(&self.dir);
    }
}

/// The first of `names` found in `PATH`, `/usr/lib/postgresql/*/bin` (newest first), `/usr/sbin`, `/usr/bin`.
fn find_binary(names: &[&str], package: &str) -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    dirs.extend([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")]);
    for name in names {
        if let Some(found) = dirs.iter().find_map(|dir| find_in(dir, name)) {
            return Ok(found);
        }
    }
    bail!(
        "{} not found in PATH, /usr/lib/postgresql/*/bin, /usr/sbin or /usr/bin: install the Debian package `{package}` \
         (apt-get install --no-install-recommends {package})",
        names.join(" or ")
    )
}

/// `dir/name` if it is an executable file.
fn find_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    let meta = std::fs::metadata(&path).ok()?;
    (meta.is_file() && meta.mode() & 0o111 != 0).then_some(path)
}

/// `program` as the `postgres` OS user when `as_postgres` (through `setpriv`), else as is.
fn as_user(as_postgres: bool, program: &Path) -> Command {
    if !as_postgres {
        return Command::new(program);
    }
    let mut command = Command::new("setpriv");
    command.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
    command
}

/// Whether this process runs as root (the owner of `/proc/self`).
fn running_as_root() -> anyhow::Result<bool> {
    Ok(std::fs::metadata("/proc/self").context("reading /proc/self")?.uid() == 0)
}

/// Makes `user` (which the package's install created) the owner of `dir`.
fn give_to_os_user(dir: &Path, user: &str) -> anyhow::Result<()> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let out = Command::new("id").args([flag, user]).output().context("running id")?;
        if !out.status.success() {
            bail!("the OS user `{user}` does not exist: install the Debian package `postgresql`, which creates it");
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    std::os::unix::fs::chown(dir, Some(id("-u")?), Some(id("-g")?))
        .with_context(|| format!("giving {} to {user}", dir.display()))
}

/// A new temporary directory that outlives its handle (the supervisor removes it).
fn temp_dir(prefix: &str) -> anyhow::Result<PathBuf> {
    Ok(tempfile::Builder::new().prefix(prefix).tempdir().context("creating a temporary directory")?.keep())
}

fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// A port no one listens on right now (the OS's pick for port 0).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?.local_addr()?.port())
}

/// Runs `command` to completion; on failure the error carries its output.
fn run_quietly(mut command: Command, what: &str) -> anyhow::Result<()> {
    let out = command.stdin(Stdio::null()).output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let tail: String = text.chars().rev().take(3000).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("{what} failed ({}): {}", out.status, tail.trim());
    }
    Ok(())
}

/// A database name from a test name: lowercase letters, digits and `_`, at most 63 bytes with the counter.
fn database_name(name: &str, counter: u32) -> String {
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(48).collect();
    format!("t{counter}_{clean}")
}

#[cfg(test)]
mod tests;
