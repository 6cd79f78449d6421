//! Per-replica resources against the real kernel: memory limits kill (cgroups) or fail allocations (the
//! setrlimit fallback), usage readings grow while a process burns CPU, and a CPU quota holds a busy loop down.
//! Each test asserts which backend `Cgroups::detect` chose, so a limit that is not enforced either way fails.
//! Needs `python3` on `PATH`. Run with `SEDGE_CGROUPS=off` to exercise the fallback everywhere (the CPU quota
//! test then has nothing to check and says so).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sedge_runtime::local::resources::{Cgroups, Confinement, Limits, Usage};

const FUNCTION: &str = "resources-test.openfaas-fn";
const HOG: &str = "b = bytearray(512 << 20); import time; time.sleep(1)";

/// A confinement and the process in it; dropping it (also on a failed assertion) kills the process, reaps it
/// and removes the cgroups.
struct Replica {
    confinement: Confinement,
    child: Option<Child>,
}

impl Replica {
    fn new(cgroups: &Cgroups, test: &str, limits: Limits) -> Self {
        let id = format!("{test}-{}", std::process::id());
        let confinement = cgroups.confine(FUNCTION, &id, limits).expect("confine");
        Self { confinement, child: None }
    }

    fn command(&self, python: &str) -> Command {
        let argv = self.confinement.command(&["python3".to_owned(), "-c".to_owned(), python.to_owned()]);
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).process_group(0);
        command
    }

    fn run(&self, python: &str) -> Output {
        self.command(python).stdout(Stdio::piped()).stderr(Stdio::piped()).output().expect("run python3")
    }

    fn spawn(&mut self, python: &str) -> u32 {
        let child = self.command(python).spawn().expect("spawn python3");
        let pid = child.id();
        self.child = Some(child);
        pid
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().expect("try_wait").is_none())
    }

    /// Waits for the process to exit (at most `limit`, then it is killed and the test fails).
    fn wait(&mut self, limit: Duration) {
        let started = Instant::now();
        while self.running() {
            assert!(started.elapsed() < limit, "process still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.confinement.remove();
    }
}

fn memory_limit_is_enforced(cgroups: &Cgroups, test: &str) {
    eprintln!("{}", cgroups.describe());
    let limits = Limits { memory_bytes: Some(64 << 20), cpu_millicores: None };
    let replica = Replica::new(cgroups, test, limits);
    let output = replica.run(HOG);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if cgroups.is_available() {
        assert_eq!(output.status.signal(), Some(9), "expected an OOM kill: {:?} {stderr}", output.status);
        assert!(replica.confinement.oom_kills() >= 1, "oom_kills = {}", replica.confinement.oom_kills());
    } else {
        assert_eq!(output.status.code(), Some(1), "expected MemoryError: {:?} {stderr}", output.status);
        assert!(stderr.contains("MemoryError"), "{stderr}");
        assert_eq!(replica.confinement.oom_kills(), 0);
    }
}

/// This machine's cgroups, or none with `SEDGE_CGROUPS=off` (as `sedge up --cgroups off`).
fn cgroups() -> Cgroups {
    if std::env::var("SEDGE_CGROUPS").is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
        Cgroups::unavailable("SEDGE_CGROUPS=off")
    } else {
        Cgroups::detect()
    }
}

#[test]
fn a_replica_over_its_memory_limit_is_stopped() {
    memory_limit_is_enforced(&cgroups(), "oom");
}

#[test]
fn the_fallback_enforces_memory_with_ulimit() {
    let cgroups = Cgroups::unavailable("test");
    assert!(!cgroups.is_available());
    memory_limit_is_enforced(&cgroups, "ulimit");
}

/// Burns CPU in the confinement and watches `usage` while the process runs: CPU grows by more than 0.2 s and
/// memory is non-zero. The loop counts its own CPU time, so a busy machine slows it down but cannot starve it.
fn usage_grows_while_running(cgroups: &Cgroups, test: &str) {
    eprintln!("{}", cgroups.describe());
    let mut replica = Replica::new(cgroups, test, Limits::default());
    let before = replica.confinement.usage(&[]);
    let pgid = replica.spawn("import time\nwhile time.process_time() < 1.5: pass");
    let started = Instant::now();
    let mut seen = Usage::default();
    while replica.running() && started.elapsed() < Duration::from_secs(30) {
        let usage = replica.confinement.usage(&[pgid]);
        seen.memory_bytes = seen.memory_bytes.max(usage.memory_bytes);
        seen.cpu_seconds = usage.cpu_seconds;
        if usage.cpu_seconds - before.cpu_seconds > 0.2 && seen.memory_bytes > 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("usage did not grow while the process ran: before {before:?}, last {seen:?}");
}

#[test]
fn usage_grows_while_a_process_burns_cpu() {
    usage_grows_while_running(&cgroups(), "usage");
}

#[test]
fn the_fallback_reads_usage_by_process_group() {
    usage_grows_while_running(&Cgroups::unavailable("test"), "usage-proc");
}

#[test]
fn a_cpu_quota_holds_a_busy_loop_down() {
    let cgroups = cgroups();
    eprintln!("{}", cgroups.describe());
    if !cgroups.can_limit_cpu() {
        let off = std::env::var("SEDGE_CGROUPS").is_ok_and(|v| v.eq_ignore_ascii_case("off"));
        assert!(
            off,
            "no cpu controller to test ({}); set SEDGE_CGROUPS=off to run without cgroups",
            cgroups.describe()
        );
        eprintln!("SEDGE_CGROUPS=off: no CPU quota to check");
        return;
    }
    let mut replica = Replica::new(&cgroups, "quota", Limits { memory_bytes: None, cpu_millicores: Some(200) });
    let started = Instant::now();
    replica.spawn("import time\nt = time.monotonic()\nwhile time.monotonic() - t < 1.0: pass");
    replica.wait(Duration::from_secs(30));
    let wall = started.elapsed().as_secs_f64();
    let cpu = replica.confinement.usage(&[]).cpu_seconds;
    eprintln!("{cpu:.3} CPU-seconds in {wall:.3} s");
    assert!(cpu > 0.02, "the loop did not run: {cpu} CPU-seconds");
    assert!(cpu / wall <= 0.35, "{cpu:.3} CPU-seconds in {wall:.3} s exceeds a 200m quota");
}
