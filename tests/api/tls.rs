//! TLS to PostgreSQL (`db::tls`), against a server each test starts with
//! `ssl=on` and a pg_hba.conf that admits TLS connections only (`hostssl`), so
//! a connection that works is an encrypted one. The CA, the server's
//! certificate (for `localhost` only) and a client certificate are made here
//! with rcgen.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use pgchat::db::tls::MakeTls;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use uuid::Uuid;

use crate::helpers::wait_for;

/// A PostgreSQL cluster of this test's own, on a free TCP port, TLS only.
struct TlsPostgres {
    dir: PathBuf,
    port: u16,
    /// PEM files: the CA that signed the server's certificate, another CA, and
    /// a client certificate and key for the role `certuser`.
    ca: PathBuf,
    other_ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl TlsPostgres {
    fn start() -> Self {
        let bin = pg_bin_dir();
        let dir = std::env::temp_dir().join(format!("pgchat-tls-{}", Uuid::new_v4().simple()));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();

        let ca = ca("pgchat test CA");
        let server = leaf(vec!["localhost".into()], "localhost", &ca);
        let client = leaf(vec![], "certuser", &ca);
        let other = ca_pem("someone else's CA");
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let this = Self {
            port: free_port(),
            ca: write("ca.crt", &ca.pem()),
            other_ca: write("other-ca.crt", &other),
            client_cert: write("client.crt", &client.0),
            client_key: write("client.key", &client.1),
            dir: dir.clone(),
        };

        as_postgres_owner(&dir);
        let data_arg = data.display().to_string();
        run(
            &bin,
            "initdb",
            &["-D", &data_arg, "-U", "postgres", "--auth=trust", "-N"],
        );
        // The server's files live in its data folder, readable by it alone.
        for (name, text) in [
            ("server.crt", server.0.as_str()),
            ("server.key", server.1.as_str()),
            ("ca.crt", ca.pem().as_str()),
        ] {
            std::fs::write(data.join(name), text).unwrap();
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all certuser 127.0.0.1/32 cert\n\
             hostssl all certuser ::1/128 cert\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostssl all all ::1/128 trust\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        as_postgres_owner(&dir);
        let options = format!(
            "-c port={} -c listen_addresses=localhost -c unix_socket_directories={} \
             -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c ssl_ca_file=ca.crt \
             -c fsync=off",
            this.port,
            dir.display()
        );
        let log = dir.join("postgres.log").display().to_string();
        run(
            &bin,
            "pg_ctl",
            &["start", "-w", "-D", &data_arg, "-l", &log, "-o", &options],
        );
        let psql = |sql: &str| {
            let socket = dir.display().to_string();
            let port = this.port.to_string();
            run(
                &bin,
                "psql",
                &[
                    "-h", &socket, "-p", &port, "-U", "postgres", "-d", "postgres", "-c", sql,
                ],
            )
        };
        psql("CREATE ROLE certuser LOGIN");
        this
    }

    /// A `DATABASE_URL` for this server with `query` appended.
    fn url(&self, host: &str, user: &str, query: &str) -> String {
        format!("postgres://{user}@{host}:{}/postgres?{query}", self.port)
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let _ = command(&pg_bin_dir(), "pg_ctl")
            .args(["stop", "-D", &data, "-m", "immediate", "-w"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Connects with `url` as the server does (its TLS options included) and
/// answers whether the session is encrypted, or the error's whole chain.
async fn connect(url: &str) -> Result<bool, String> {
    let attempt = async {
        let (config, options) = pgchat::db::pg_config_tls(url)?;
        let client = pgchat::db::connect_tls(&config, &MakeTls::new(&options)?).await?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?;
        anyhow::Ok(row.get::<_, bool>(0))
    };
    attempt.await.map_err(|error| format!("{error:#}"))
}

#[tokio::test]
async fn require_encrypts_and_verify_full_checks_the_ca_and_the_host_name() {
    let pg = tokio::task::spawn_blocking(TlsPostgres::start)
        .await
        .unwrap();
    let ca = pg.ca.display().to_string();
    let other_ca = pg.other_ca.display().to_string();

    // require: encrypted, whatever the certificate (libpq's meaning).
    let require = pg.url("127.0.0.1", "postgres", "sslmode=require");
    assert_eq!(connect(&require).await, Ok(true));
    // pg_hba.conf admits TLS only: proof that the above was not plain text.
    let plain = pg.url("127.0.0.1", "postgres", "sslmode=disable");
    assert!(connect(&plain)
        .await
        .unwrap_err()
        .contains("no pg_hba.conf entry"));

    // verify-full with the CA that issued the certificate, by the name it lists.
    let full = pg.url(
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_eq!(connect(&full).await, Ok(true));
    // verify-ca: right CA, any host name.
    let ca_only = pg.url(
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    assert_eq!(connect(&ca_only).await, Ok(true));

    // A CA that did not issue it: refused, in one sentence naming the file.
    let wrong_ca = pg.url(
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={other_ca}"),
    );
    let error = connect(&wrong_ca).await.unwrap_err();
    assert!(
        error.ends_with(&format!(
            "the database server's certificate is not signed by a trusted authority (sslrootcert {other_ca}): point sslrootcert at the CA that issued it"
        )),
        "{error}"
    );
    // sslrootcert makes require check the chain, as libpq does.
    let require_wrong_ca = pg.url(
        "127.0.0.1",
        "postgres",
        &format!("sslmode=require&sslrootcert={other_ca}"),
    );
    assert!(connect(&require_wrong_ca)
        .await
        .unwrap_err()
        .contains("not signed by a trusted authority"));

    // The right CA, but a host name the certificate does not list.
    let wrong_host = pg.url(
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let error = connect(&wrong_host).await.unwrap_err();
    assert!(
        error.ends_with(
            "the database server's certificate is not valid for the host name \"127.0.0.1\" (sslmode=verify-full): connect by a name the certificate lists, or use verify-ca"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_client_certificate_logs_in_where_pg_hba_asks_for_one() {
    let pg = tokio::task::spawn_blocking(TlsPostgres::start)
        .await
        .unwrap();
    let (ca, cert, key) = (
        pg.ca.display().to_string(),
        pg.client_cert.display().to_string(),
        pg.client_key.display().to_string(),
    );
    let with_cert = pg.url(
        "localhost",
        "certuser",
        &format!("sslmode=verify-full&sslrootcert={ca}&sslcert={cert}&sslkey={key}"),
    );
    assert_eq!(connect(&with_cert).await, Ok(true));
    // The same in key=value form, as libpq also takes it.
    let key_value = format!(
        "host=localhost port={} user=certuser dbname=postgres sslmode=verify-full sslrootcert='{ca}' sslcert='{cert}' sslkey='{key}'",
        pg.port
    );
    assert_eq!(connect(&key_value).await, Ok(true));
    let without = pg.url(
        "localhost",
        "certuser",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let error = connect(&without).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_migrates_pools_and_listens_over_verified_tls() {
    let pg = tokio::task::spawn_blocking(TlsPostgres::start)
        .await
        .unwrap();
    let url = pg.url(
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={}", pg.ca.display()),
    );
    let data = std::env::temp_dir().join(format!("pgchat-tls-data-{}", Uuid::new_v4().simple()));
    let mut config = crate::helpers::test_config(&data, &pgchat::auth::random_secret());
    config.database.database_url = Some(url.clone());
    // The startup path: migrations over TLS, then the pool and the job connections.
    let database = pgchat::startup::Database::open(&config.database)
        .await
        .unwrap();
    database.migrate().await.unwrap();
    let app = pgchat::startup::Application::build(config, database.config.clone())
        .await
        .unwrap();
    let port = app.port();
    let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert!(health.status().is_success());

    // Every connection pgchat holds is encrypted; the desk's and the assistant's
    // LISTEN connections are among them.
    let (config, options) = pgchat::db::pg_config_tls(&url).unwrap();
    let check = pgchat::db::connect_tls(&config, &MakeTls::new(&options).unwrap())
        .await
        .unwrap();
    wait_for("the four kinds of connection, all encrypted", || async {
        let rows = check
            .query(
                "SELECT a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.application_name IN ('pgchat', 'pgchat-desk', 'pgchat-ai', 'pgchat-listener') AND a.pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        assert!(
            rows.iter().all(|r| r.get::<_, bool>(1)),
            "a plain-text connection"
        );
        let names: std::collections::BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
        names.len() == 4
    })
    .await;
    server.abort();
    let _ = std::fs::remove_dir_all(&data);
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn ca_pem(name: &str) -> String {
    ca(name).pem()
}

/// A certificate and its key (PEM) for `names`, with `common_name` (PostgreSQL
/// maps a client certificate to a role by it), issued by `ca`.
fn leaf(
    names: Vec<String>,
    common_name: &str,
    ca: &CertifiedIssuer<'_, KeyPair>,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn pg_bin_dir() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .max();
    found.expect("PostgreSQL's server binaries (apt-get install postgresql; scripts/test.sh does)")
}

/// PostgreSQL refuses to run as root: when we are root, it runs as `postgres`.
fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

fn as_postgres_owner(dir: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// `program` from PostgreSQL's binaries, as the `postgres` user when we are root.
fn command(bin: &Path, program: &str) -> Command {
    let path = bin.join(program);
    if is_root() {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(path)
            .current_dir("/");
        command
    } else {
        Command::new(path)
    }
}

fn run(bin: &Path, program: &str, args: &[&str]) {
    let output = command(bin, program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
