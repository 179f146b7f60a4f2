#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The superuser of every test cluster (trusted over TCP from 127.0.0.1).
pub const SUPERUSER: &str = "postgres";

/// The group whose members must log in with a password.
pub const PASSWORD_GROUP: &str = "password_users";

/// What to tell someone whose machine has no server.
pub const INSTALL_HINT: &str = "install the PostgreSQL server: `scripts/ensure-postgres.sh` \
     (Debian/Ubuntu: `apt-get install -y postgresql`), or set CHATHAUL_PG_BIN to the \
     directory that holds initdb and pg_ctl";

/// Why a server could not be started.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot start a test PostgreSQL server: {}", self.0)
    }
}

impl std::error::Error for StartError {}

fn fail(what: impl Into<String>) -> StartError {
    StartError(what.into())
}

/// A PostgreSQL cluster of its own, in a temporary directory, listening on
/// 127.0.0.1 on a free port; stopped and removed when dropped, or when the
/// process that started it exits.
pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    watcher: Mutex<Option<(Child, ChildStdin)>>,
    next_database: AtomicU32,
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish()
    }
}

/// A fresh database on a [`PostgresServer`].
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    port: u16,
}

impl TestDatabase {
    /// A URL that connects as the superuser without TLS.
    pub fn url(&self) -> String {
        format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/{}?sslmode=disable",
            self.port, self.name
        )
    }

    /// The URL with other query parameters (`sslmode=require&schema=x`).
    pub fn url_with(&self, query: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/{}?{query}",
            self.port, self.name
        )
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`, or `CHATHAUL_PG_BIN`,
/// or the directory of an `initdb` on the `PATH`.
fn find_bin() -> Result<PathBuf, StartError> {
    if let Some(dir) = std::env::var_os("CHATHAUL_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
        return Err(fail(format!(
            "CHATHAUL_PG_BIN={} holds no initdb; {INSTALL_HINT}",
            dir.display()
        )));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            return Ok(dir);
        }
    }
    Err(fail(format!("initdb was not found; {INSTALL_HINT}")))
}

/// Whether this process runs as root (`/proc/self` belongs to the effective user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn id_of(flag: &str) -> Result<u32, StartError> {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .map_err(|e| fail(format!("cannot run `id`: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "running as root, but there is no `postgres` user to run the server as; {INSTALL_HINT}"
        )));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| fail("`id` printed no number"))
}

fn run(mut cmd: Command, what: &str) -> Result<String, StartError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run {what}: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(fail(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn free_port() -> Result<u16, StartError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| fail(format!("cannot find a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| fail(format!("cannot find a free port: {e}")))
}

fn quote_sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl PostgresServer {
    /// The server of this test binary, started on first use.
    ///
    /// # Panics
    /// When no server can be started: the message says why and how to
    /// install one. A test that needs a server fails, never skips.
    pub fn shared() -> &'static PostgresServer {
        static SHARED: OnceLock<Result<PostgresServer, String>> = OnceLock::new();
        match SHARED.get_or_init(|| PostgresServer::start().map_err(|e| e.to_string())) {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts a new cluster.
    ///
    /// # Errors
    /// When the server binaries are missing (the message says how to install
    /// them), or `initdb`, `openssl` or `pg_ctl` fail (with their output).
    pub fn start() -> Result<PostgresServer, StartError> {
        let bin = find_bin()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("chathaul-pg-")
            .tempdir()
            .map_err(|e| fail(format!("cannot create a temporary directory: {e}")))?
            .keep();
        let server = PostgresServer {
            bin,
            dir,
            port: 0,
            as_postgres,
            watcher: Mutex::new(None),
            next_database: AtomicU32::new(1),
        };
        // From here on, dropping `server` removes the directory.
        server.prepare()?;
        let mut server = server;
        let mut last = None;
        for _ in 0..3 {
            server.port = free_port()?;
            match server.pg_ctl_start() {
                Ok(()) => {
                    server.watch()?;
                    server.psql("postgres", &format!("CREATE ROLE {PASSWORD_GROUP} NOLOGIN"))?;
                    return Ok(server);
                }
                // Another process may have taken the port in between: try another.
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| fail("pg_ctl start failed")))
    }

    /// A command that runs as the server's user.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir);
        // Nothing from the machine's own libpq settings.
        for var in [
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "PGSSLMODE",
            "PGDATA",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `initdb`, the certificates, the configuration.
    fn prepare(&self) -> Result<(), StartError> {
        if self.as_postgres {
            let (uid, gid) = (id_of("-u")?, id_of("-g")?);
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid)).map_err(|e| {
                fail(format!(
                    "cannot give {} to postgres: {e}",
                    self.dir.display()
                ))
            })?;
        }
        let mut initdb = self.command(&self.bin.join("initdb"));
        initdb.arg("-D").arg(self.data()).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;
        self.certificates()?;
        let conf = format!(
            "\n# chathaul-test-postgres\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n\
             ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n\
             password_encryption = 'scram-sha-256'\n",
            dir = self.dir.display()
        );
        let hba = format!(
            "local all all trust\n\
             host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n\
             host all all 127.0.0.1/32 trust\n"
        );
        // The files belong to the server's user: append through it.
        let mut append = self.command(Path::new("sh"));
        append.arg("-c").arg(format!(
            "printf '%s' {} >> data/postgresql.conf && printf '%s' {} > data/pg_hba.conf",
            quote_sh(&conf),
            quote_sh(&hba)
        ));
        run(append, "writing the server configuration")?;
        Ok(())
    }

    /// A throwaway CA and a certificate for `localhost` (no IP address in
    /// it, so `verify-full` to 127.0.0.1 fails on the host name).
    fn certificates(&self) -> Result<(), StartError> {
        let script = "set -e
ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 3 -subj /CN=chathaul-test-ca 2>/dev/null
openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\nkeyUsage=digitalSignature,keyEncipherment\\nextendedKeyUsage=serverAuth\\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 3 -extfile server.ext 2>/dev/null
chmod 600 server.key ca.key
chmod 644 ca.crt server.crt";
        let mut sh = self.command(Path::new("sh"));
        sh.arg("-c").arg(script);
        run(sh, "openssl (the test certificates)").map(|_| ())
    }

    fn pg_ctl_start(&self) -> Result<(), StartError> {
        let mut pg_ctl = self.command(&self.bin.join("pg_ctl"));
        pg_ctl
            .arg("start")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            // Its own process group: Ctrl-C on the test run reaches the
            // watcher's cleanup, not the server mid-test.
            .process_group(0);
        run(pg_ctl, "pg_ctl start").map(|_| ()).map_err(|e| {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            fail(format!("{}; server log:\n{log}", e.0))
        })
    }

    /// The watcher: a shell that waits for its standard input (a pipe from
    /// this process) to close, then stops the server and removes the
    /// directory. It outlives this process only as long as cleaning up takes.
    fn watch(&self) -> Result<(), StartError> {
        let stop = format!(
            "{} stop -D {} -m immediate -w >/dev/null 2>&1",
            quote_sh(&self.bin.join("pg_ctl").display().to_string()),
            quote_sh(&self.data().display().to_string())
        );
        let stop = if self.as_postgres {
            format!("runuser -u postgres -- {stop}")
        } else {
            stop
        };
        let script = format!(
            "cat >/dev/null; {stop}; rm -rf {}",
            quote_sh(&self.dir.display().to_string())
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| fail(format!("cannot start the watcher: {e}")))?;
        let stdin = child.stdin.take().expect("piped");
        *self.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some((child, stdin));
        Ok(())
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate that signed the server's certificate (for
    /// `sslrootcert`). The server's certificate names `localhost` only.
    pub fn ca_certificate(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// A new, empty database.
    ///
    /// # Panics
    /// When the server refuses (the message has psql's output).
    pub fn create_database(&self) -> TestDatabase {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{n}");
        if let Err(e) = self.psql("postgres", &format!("CREATE DATABASE {name}")) {
            panic!("{e}");
        }
        TestDatabase {
            name,
            port: self.port,
        }
    }

    /// A role that can log in with `password` only (a member of
    /// [`PASSWORD_GROUP`]), allowed to create schemas in `database`.
    ///
    /// # Errors
    /// psql's output when the server refuses.
    pub fn create_password_role(
        &self,
        role: &str,
        password: &str,
        database: &str,
    ) -> Result<(), StartError> {
        let password = password.replace('\'', "''");
        self.psql(
            database,
            &format!(
                "CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE {PASSWORD_GROUP}; \
                 GRANT CREATE ON DATABASE {database} TO {role}"
            ),
        )
        .map(|_| ())
    }

    /// Runs SQL as the superuser in `database` through `psql`; returns its
    /// unaligned, tuples-only output (`|` between columns, a line a row).
    ///
    /// # Errors
    /// psql's output when it fails.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, StartError> {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.arg(format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        ))
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICE")
        .env("PGCONNECT_TIMEOUT", "10");
        run(cmd, &format!("psql ({sql})")).map(|s| s.trim_end_matches('\n').to_owned())
    }

    /// Stops the server and removes its directory now.
    fn stop(&self) {
        let taken = self
            .watcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match taken {
            Some((mut child, stdin)) => {
                drop(stdin);
                let _ = child.wait();
            }
            None => {
                // Not started, or the watcher never ran: clean up here.
                let mut stop = self.command(&self.bin.join("pg_ctl"));
                stop.arg("stop")
                    .arg("-D")
                    .arg(self.data())
                    .args(["-m", "immediate", "-w"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                let _ = stop.status();
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes one JSON line describing `server` (for the binary).
///
/// # Errors
/// When `out` cannot be written.
pub fn describe(server: &PostgresServer, out: &mut impl Write) -> std::io::Result<()> {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    writeln!(
        out,
        "{{\"url\": \"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres\", \"host\": \"127.0.0.1\", \
         \"port\": {port}, \"user\": \"{SUPERUSER}\", \"ca_certificate\": \"{}\", \"psql\": \"{}\"}}",
        esc(&server.ca_certificate().display().to_string()),
        esc(&server.bin.join("psql").display().to_string()),
        port = server.port
    )?;
    out.flush()
}
