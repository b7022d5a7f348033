//! Throwaway PostgreSQL clusters for tests (feature `test-support`).
//!
//! [`PgCluster::start`] runs `initdb` and `pg_ctl start` from the installed PostgreSQL
//! (`HUDDLE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else `PATH`) in a fresh
//! directory under the system temp dir, listening on a free TCP port on 127.0.0.1 (trust
//! authentication, superuser `postgres`, the unix socket inside that directory). PostgreSQL
//! refuses to run as root, so as root every command runs as the `postgres` user via
//! `runuser`. [`PgCluster::shared`] is one cluster per test binary; [`PgCluster::database`]
//! creates a fresh database in it per test.
//!
//! The cluster is stopped and its directory removed on drop, and also by a small watchdog
//! process once the test process is gone (statics are never dropped, and a killed test
//! run must not leave a postmaster behind).

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway cluster.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

impl PgCluster {
    /// The cluster shared by all tests of this test binary (started on first use).
    pub fn shared() -> Result<&'static PgCluster, String> {
        SHARED
            .get_or_init(PgCluster::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Initialises and starts a new cluster.
    pub fn start() -> Result<PgCluster, String> {
        let bin = find_bin_dir()?;
        let as_postgres = is_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("huddle-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&dir))?;
        }
        let cluster = PgCluster {
            port: free_port()?,
            dir,
            bin,
            as_postgres,
        };
        cluster.spawn_watchdog();
        let data = cluster.data_dir();
        run(cluster.pg_command("initdb").args(["-D"]).arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The data directory.
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `bin/<program>`, as the `postgres` user when running as root.
    fn pg_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    /// Starts (or restarts after [`PgCluster::stop`]) the server on the same port.
    pub fn start_server(&self) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, "-w", "-t", "30", "start"]))
    }

    /// Stops the server (`-m fast`: connections are terminated); the data stays.
    pub fn stop(&self) -> Result<(), String> {
        run(self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "stop"]))
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub async fn database(&self, prefix: &str) -> Result<String, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}_{}_{n}", std::process::id());
        self.batch("postgres", &format!("CREATE DATABASE \"{name}\""))
            .await?;
        Ok(self.url(&name))
    }

    /// Executes `sql` (one or more statements) in database `db`.
    pub async fn batch(&self, db: &str, sql: &str) -> Result<(), String> {
        let mut conn = AsyncPgConnection::establish(&self.url(db))
            .await
            .map_err(|e| format!("connecting to {db}: {e}"))?;
        conn.batch_execute(sql)
            .await
            .map_err(|e| format!("executing {sql:?}: {e}"))
    }

    /// Terminates every other connection to database `db` (as if the server restarted).
    pub async fn terminate_connections(&self, db: &str) -> Result<(), String> {
        self.batch(
            "postgres",
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{db}' AND pid <> pg_backend_pid()"
            ),
        )
        .await
    }

    /// A process that stops the cluster and removes its directory once this process exits.
    fn spawn_watchdog(&self) {
        let runas = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {runas}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data_dir().display(),
            dir = self.dir.display(),
        );
        let spawned = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no cleanup watchdog for the test cluster");
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd`, returning its output as the error when it fails.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A TCP port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The PostgreSQL server binaries: `HUDDLE_PG_BIN`, the newest `/usr/lib/postgresql/*/bin`,
/// or the directory of `initdb` on `PATH`.
fn find_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("HUDDLE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| Path::new(dir).join("initdb").is_file())
        .ok_or_else(|| {
            "PostgreSQL server binaries not found (install the Debian package `postgresql`, \
             which `cargo xtask setup` does, or set HUDDLE_PG_BIN)"
                .to_owned()
        })
}
