//! A second PostgreSQL cluster started by a test: its own data dir under a temp dir, a free
//! port, TLS with a server certificate signed by a CA the test creates (`openssl` CLI), and
//! password (SCRAM) authentication for every role but `postgres`. Tests stop and restart it
//! (an outage) and read its CA file for `PGSSLROOTCERT`. Torn down on drop.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the server commands run as
//! the `postgres` OS user (`runuser`), which owns the temp dir.

use super::db::psql;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgCluster {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
    running: bool,
}

/// The newest `/usr/lib/postgresql/N/bin` (or `PG_BIN`).
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
        .1
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command run as the `postgres` OS user when we are root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// A CA (`<name>.pem`, `<name>.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=brickbox test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

impl PgCluster {
    /// initdb, certificates, configuration, start. Panics with the reason when a step fails.
    pub fn start() -> PgCluster {
        // /tmp rather than $TMPDIR: the `postgres` user must be able to reach the directory.
        let tmp = Path::new("/tmp");
        let base = if tmp.is_dir() {
            tmp.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("bb-pg-{}", shared::util::uuid_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        make_ca(&dir, "ca");
        make_ca(&dir, "other-ca");
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write server.ext");
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir));
        }
        run(Command::new("chmod").arg("600").arg(dir.join("server.key")));
        // The server runs as another user: it must be able to reach the dir.
        run(Command::new("chmod").arg("755").arg(&dir));
        let bin = bin_dir();
        let data = dir.join("data");
        run(as_postgres(&bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        let port = free_port();
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{d}'\nssl = on\nssl_cert_file = '{d}/server.crt'\nssl_key_file = '{d}/server.key'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 80\nshared_buffers = 32MB\npassword_encryption = 'scram-sha-256'\n",
            d = dir.display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&conf_path, text).expect("write postgresql.conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .expect("write pg_hba.conf");
        let mut cluster = PgCluster {
            port,
            dir,
            bin,
            running: false,
        };
        cluster.start_again();
        cluster
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn other_ca_cert(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    fn pg_ctl(&self, args: &[&str]) {
        run(as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(args));
    }

    /// Start (again) on the same port.
    pub fn start_again(&mut self) {
        self.pg_ctl(&["-w", "-t", "30", "start"]);
        self.running = true;
    }

    /// A fast shutdown: clients are disconnected.
    pub fn stop(&mut self) {
        self.pg_ctl(&["-m", "fast", "-w", "-t", "30", "stop"]);
        self.running = false;
    }

    /// SQL as the superuser (trust on loopback).
    pub fn sql(&self, database: &str, sql: &str) -> String {
        psql(self.port, database, sql)
    }

    /// A role that logs in with `password` and owns a database of the same name.
    /// Role `app` (password login) and a ready test server using it over TLS, trusting the
    /// cluster's CA.
    pub fn app_server(&self, fake: &super::fake_workspace::FakeWorkspace) -> super::TestServer {
        self.create_app_role("app", Some("app-password"));
        let url = format!("postgres://app:app-password@127.0.0.1:{}/app", self.port);
        let ca = self.ca_cert();
        let server = super::TestServer::with_workspace(
            fake,
            &[
                ("DATABASE_URL", &url),
                ("PGSSLROOTCERT", ca.to_str().unwrap()),
            ],
        );
        server.wait_ready();
        server
    }

    pub fn create_app_role(&self, role: &str, password: Option<&str>) {
        let pw = password
            .map(|p| format!(" PASSWORD '{p}'"))
            .unwrap_or_default();
        self.sql("postgres", &format!("CREATE ROLE {role} LOGIN{pw}"));
        self.sql("postgres", &format!("CREATE DATABASE {role} OWNER {role}"));
    }

    /// Close every connection of `role` (forces new logins).
    pub fn terminate(&self, role: &str) {
        self.sql(
            "postgres",
            &format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}'"),
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = as_postgres(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .stdin(std::process::Stdio::null())
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
