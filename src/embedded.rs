//! The embedded default: a private PostgreSQL cluster made from the PostgreSQL
//! binaries installed on the machine, kept in a data folder and reached over a
//! Unix socket in that folder (no port to collide with, no password to set).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Uid, User};

/// What a newcomer without PostgreSQL reads, in one sentence.
pub const MISSING_POSTGRES: &str = "PostgreSQL was not found (no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin): \
install it (for example `apt-get install postgresql` or `brew install postgresql`) or set DATABASE_URL to a running server.";

/// The port number names the socket file (`.s.PGSQL.5432`) in our own socket folder;
/// the cluster does not listen on TCP, so it never collides with another server.
const PORT: u16 = 5432;

/// A running private cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    run_as: Option<User>,
}

impl EmbeddedPostgres {
    /// Starts the cluster under `root` (creating it on first use), or attaches
    /// to it if it is already running. Safe to call from several processes at
    /// once: they serialize on a lock file.
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_binaries()?;
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let root = fs::canonicalize(root)?;
        let lock = File::create(root.join(".lock"))?;
        let _guard = Flock::lock(lock, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .context("locking the embedded cluster folder")?;

        // PostgreSQL refuses to run as root; run it as the `postgres` system user then.
        let run_as = if Uid::effective().is_root() {
            Some(User::from_name("postgres")?.context(
                "running as root, and PostgreSQL refuses to run as root: create a `postgres` user or set DATABASE_URL",
            )?)
        } else {
            None
        };
        let cluster = Self {
            data_dir: root.join("pg"),
            socket_dir: root.join("run"),
            log_file: root.join("postgres.log"),
            bin_dir,
            run_as,
        };
        let socket_len = cluster.socket_dir.as_os_str().len() + "/.s.PGSQL.5432".len();
        if socket_len > 100 {
            bail!(
                "the data folder {} is too deep for a Unix socket path; choose a shorter PGCHAT_DATA_DIR",
                root.display()
            );
        }
        let started = (|| {
            cluster.prepare_dirs()?;
            if !cluster.data_dir.join("PG_VERSION").exists() {
                cluster.initdb()?;
            }
            if !cluster.is_running() {
                cluster.pg_ctl_start()?;
            }
            anyhow::Ok(())
        })();
        match (started, &cluster.run_as) {
            (Ok(()), _) => Ok(cluster),
            (Err(error), Some(user)) => Err(error.context(format!(
                "running as root, so PostgreSQL runs as `{}`, which must be able to enter every folder above {}: \
                 choose a PGCHAT_DATA_DIR it can reach (for example /var/lib/pgchat) or set DATABASE_URL",
                user.name,
                root.display()
            ))),
            (Err(error), None) => Err(error),
        }
    }

    /// A libpq-style connection string for one database of the cluster.
    pub fn connection_string(&self, dbname: &str) -> String {
        format!(
            "host={} port={PORT} user=postgres dbname={dbname}",
            self.socket_dir.display()
        )
    }

    /// Stops the cluster (fast shutdown: open sessions are rolled back).
    pub fn stop(&self) -> anyhow::Result<()> {
        let data = self.data_dir.display().to_string();
        self.run("pg_ctl", &["stop", "-D", &data, "-m", "fast", "-w"])
    }

    fn prepare_dirs(&self) -> anyhow::Result<()> {
        for dir in [&self.data_dir, &self.socket_dir] {
            fs::create_dir_all(dir)?;
        }
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&self.data_dir, fs::Permissions::from_mode(0o700))?;
        if let Some(user) = &self.run_as {
            for path in [&self.data_dir, &self.socket_dir] {
                nix::unistd::chown(path.as_path(), Some(user.uid), Some(user.gid))?;
            }
            if !self.log_file.exists() {
                File::create(&self.log_file)?;
            }
            nix::unistd::chown(self.log_file.as_path(), Some(user.uid), Some(user.gid))?;
        }
        Ok(())
    }

    fn initdb(&self) -> anyhow::Result<()> {
        let data = self.data_dir.display().to_string();
        self.run(
            "initdb",
            &[
                "-D",
                &data,
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )
    }

    fn is_running(&self) -> bool {
        let data = self.data_dir.display().to_string();
        self.command("pg_ctl")
            .args(["status", "-D", &data])
            .output()
            .map(|out| out.status.success())
            .unwrap_or(false)
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let data = self.data_dir.display().to_string();
        let log = self.log_file.display().to_string();
        let options = format!(
            "-c listen_addresses='' -k {} -p {PORT} -c max_connections=400 -c shared_buffers=256MB",
            self.socket_dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "start", "-D", &data, "-l", &log, "-w", "-t", "120", "-o", &options,
            ],
        )
        .with_context(|| format!("starting PostgreSQL (its log: {log})"))
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        if let Some(user) = &self.run_as {
            use std::os::unix::process::CommandExt;
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            command.env("HOME", &user.dir);
        }
        command.current_dir(self.data_dir.parent().unwrap_or(Path::new("/")));
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let output = self
            .command(program)
            .args(args)
            .output()
            .with_context(|| format!("running {program}"))?;
        if !output.status.success() {
            bail!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

/// The folder holding initdb and pg_ctl: PATH first, then the newest
/// /usr/lib/postgresql/<version>/bin (Debian and Ubuntu do not put them on PATH).
pub fn find_binaries() -> anyhow::Result<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|dir| has_both(dir)) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).context(MISSING_POSTGRES)
}
