//! A throwaway PostgreSQL server from the machine's installation (Debian's
//! `/usr/lib/postgresql/<version>/bin`): `initdb` into a fresh directory, `pg_ctl start` on a
//! free loopback port, trust authentication for one local user, stopped and removed on drop.
//! PostgreSQL refuses to run as root: as root, the server runs as the `postgres` account.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct LocalServer {
    pub url: String,
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    /// The server's options (port, socket directory) for starting it again.
    opts: String,
}

/// The newest installed PostgreSQL's bin directory.
pub fn installation() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("DEVAGENTS_PG_BIN") {
        let p = PathBuf::from(d);
        return p.join("initdb").exists().then_some(p);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl LocalServer {
    /// Start a server under `parent` (as root: the temporary directory) in a fresh
    /// subdirectory, removed on drop.
    pub fn start(parent: &Path) -> Result<LocalServer, String> {
        let bin = installation().ok_or(
            "no PostgreSQL installation (initdb) found; install Debian's postgresql or give a database",
        )?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        // The `postgres` account must reach the data directory: below a root-only parent (a
        // `mktemp -d` directory, say) it could not, so as root the server lives in the
        // system's temporary directory.
        let parent = if as_postgres {
            std::env::temp_dir()
        } else {
            parent.to_path_buf()
        };
        let dir = parent.join(format!(
            "devagents-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cmd = |prog: &str| {
            let mut c = if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin.join(prog));
                c
            } else {
                Command::new(bin.join(prog))
            };
            c.stdin(std::process::Stdio::null());
            c
        };
        if as_postgres {
            run(
                Command::new("chown").arg("postgres").arg(&dir),
                "chown postgres",
            )?;
        }
        run(
            cmd("initdb").arg("-D").arg(&data).args([
                "-U",
                "devagents",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        )?;
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        let server = LocalServer {
            url: format!("postgres://devagents@127.0.0.1:{port}/postgres"),
            bin: bin.clone(),
            data: data.clone(),
            dir: dir.clone(),
            as_postgres,
            opts,
        };
        server.resume()?;
        Ok(server)
    }

    fn pg_ctl(&self) -> Command {
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        c.stdin(std::process::Stdio::null())
            .arg("-D")
            .arg(&self.data);
        c
    }

    /// Start the server (again, after [`LocalServer::pause`]) on the same port and data.
    pub fn resume(&self) -> Result<(), String> {
        run(
            self.pg_ctl()
                .args(["-o", &self.opts, "-w", "-t", "60", "-l"])
                .arg(self.dir.join("log"))
                .arg("start"),
            "pg_ctl start",
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            format!("{e}\n{log}")
        })
    }

    /// Stop the server at once (an outage); its data stays for [`LocalServer::resume`].
    pub fn pause(&self) -> Result<(), String> {
        run(
            self.pg_ctl().args(["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop",
        )
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.pause();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
