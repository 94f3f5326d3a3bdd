//! The real `broker` and `skill` binaries as separate processes on loopback ports against one fresh
//! database and the sandbox Spotify, for the tests that deploy them as operators do (replicas, Caddy).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use spotify_sandbox::RunningSandbox;
use tokio::process::{Child, Command};

use crate::app::{ALEXA_CLIENT_ID, ALEXA_REDIRECT_URI, KEY_ID};
use crate::database::{Backend, TestDatabase};
use crate::oauth::{AlexaRedirect, TokenPair};

/// The Cargo profile directory this executable was built into: `…/target/debug` for a test binary in
/// `…/target/debug/deps/e2e-…` or for a binary of this package such as `…/target/debug/soak`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the executable's path");
    let dir = exe.parent().expect("the executable lives in a directory");
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.parent()
            .expect("the test executable lives in <target>/<profile>/deps")
            .to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The newest modification time under `dir`.
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut latest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().ok().and_then(|m| m.modified().ok())
        };
        latest = latest.max(time);
    }
    latest
}

/// The path of a workspace binary (`broker` or `skill`). The e2e crate cannot use `CARGO_BIN_EXE_*` (the
/// binaries belong to other packages): they are taken from this test binary's target directory, and
/// built there first when missing or older than their sources (`.ci/run` builds them before the tests).
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let profile = profile_dir();
    let built = BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let sources = ["broker", "skill", "migrations", "Cargo.lock"]
            .iter()
            .filter_map(|p| {
                let path = root.join(p);
                if path.is_dir() {
                    newest(&path)
                } else {
                    std::fs::metadata(&path).and_then(|m| m.modified()).ok()
                }
            })
            .max();
        let fresh = ["broker", "skill"].iter().all(|bin| {
            let built = std::fs::metadata(profile.join(bin)).and_then(|m| m.modified());
            matches!((built, sources), (Ok(built), Some(sources)) if built >= sources)
        });
        if fresh {
            return Ok(());
        }
        let target = profile.parent().expect("target dir").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = std::process::Command::new(cargo);
        command
            .args(["build", "--quiet", "-p", "broker", "-p", "skill"])
            .current_dir(&root);
        // Only what a developer's shell has: the variables cargo sets for a test would change the
        // build's fingerprints and make the next `cargo test` rebuild.
        command.env_clear();
        for (key, value) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            let set_by_cargo_for_tests = key_text.starts_with("CARGO_")
                && !matches!(key_text.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR");
            if !set_by_cargo_for_tests && key_text != "OUT_DIR" && key_text != "RUST_TEST_THREADS" {
                command.env(key, value);
            }
        }
        command.env("CARGO_TARGET_DIR", &target);
        if profile.file_name().is_some_and(|p| p == "release") {
            command.arg("--release");
        }
        match command.status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("cargo build -p broker -p skill: {status}")),
            Err(err) => Err(format!("running cargo: {err}")),
        }
    });
    if let Err(err) = built {
        panic!("{err}");
    }
    let path = profile.join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A free loopback port (bound and released: another process may take it in between, which is rare),
/// never one this process was given before. The kernel can hand the same free port out again at once,
/// and the suite's tests run in one process: two of them (or two ports of one test) were given the same
/// port.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if given.insert(port) {
            return port;
        }
    }
}

/// The sockets listening on loopback or any address at `port`, as `/proc/<pid>/fd` links name them
/// (`socket:[inode]`), read from `/proc/net/tcp` and `/proc/net/tcp6`.
fn listening_sockets(port: u16) -> Vec<String> {
    let local = format!(":{port:04X}");
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(table) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in table.lines().skip(1) {
            // Fields: slot, local address, remote address, state (0A: LISTEN), …, inode (the tenth).
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9 && fields[1].ends_with(&local) && fields[3] == "0A" {
                sockets.push(format!("socket:[{}]", fields[9]));
            }
        }
    }
    sockets
}

/// One running child process whose output goes to a log file; killed when dropped.
#[derive(Debug)]
pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program args` with `env` added to the environment, output to `dir/<name>.log`.
    pub fn start(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        dir: &Path,
    ) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("opening a log file");
        let err = out.try_clone().expect("cloning a log file");
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("RUST_LOG")
            .env_remove("BROKER_CONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// The process's output so far, for failure messages.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether this process holds the socket listening at `url`'s port (Linux: `/proc/net/tcp*` names the
    /// listening socket, `/proc/<pid>/fd` the process's sockets). A ready answer alone may come from
    /// another test's server: ports are picked free, then bound, and another test can bind the same port
    /// in between (this process then fails to bind and exits).
    pub fn listens_at(&self, url: &str) -> bool {
        let Some(port) = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|authority| authority.rsplit_once(':'))
            .and_then(|(_, port)| port.parse::<u16>().ok())
        else {
            return false;
        };
        let Some(pid) = self.child.id() else {
            return false;
        };
        let listening = listening_sockets(port);
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .any(|target| {
                listening
                    .iter()
                    .any(|socket| target.as_os_str() == socket.as_str())
            })
    }

    /// Sends SIGTERM (a graceful stop, as systemd and Kubernetes do).
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM {}", self.name);
    }

    /// SIGKILL, as a crash or an OOM kill.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("killing the process");
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("waiting for the process"),
            Err(_) => panic!(
                "{} did not exit within {timeout:?}; output:\n{}",
                self.name,
                self.output()
            ),
        }
    }
}

/// Polls `url` until it answers 200 or `process` exits.
pub async fn wait_ready(process: &mut Process, url: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http.get(url).send().await {
            if response.status() == StatusCode::OK && process.listens_at(url) {
                return;
            }
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!(
                "{} exited with {status}:\n{}",
                process.name,
                process.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready at {url}:\n{}",
            process.name,
            process.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A broker process with its ports.
#[derive(Debug)]
pub struct BrokerProcess {
    pub process: Process,
    pub port: u16,
    pub admin_port: u16,
}

impl BrokerProcess {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }
}

/// Brokers and a skill as separate processes sharing one fresh database, one sandbox and one set of keys
/// and credentials.
pub struct Cluster {
    pub sandbox: RunningSandbox,
    pub database: TestDatabase,
    pub brokers: Vec<BrokerProcess>,
    pub skill: Option<(Process, u16)>,
    pub dir: PathBuf,
    pub public_url: String,
    pub service_token: String,
    pub admin_token: String,
    pub alexa_client_secret: String,
    /// A browser-like client: keeps cookies, follows no redirects.
    pub browser: reqwest::Client,
    /// A plain client for API calls.
    pub http: reqwest::Client,
    env: Vec<(String, String)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    /// `replicas` brokers (migrated once by `broker migrate`, then `serve --no-migrate`) on Postgres.
    /// `public_url` is what every replica calls its external base URL (a load balancer's); `None`
    /// means the first replica's address. `overrides` are extra `BROKER__…` variables.
    pub async fn start(
        sandbox: RunningSandbox,
        replicas: usize,
        public_url: Option<String>,
        overrides: &[(&str, &str)],
    ) -> Self {
        crate::logs::init();
        let database = TestDatabase::create(Backend::Postgres).await;
        let dir =
            std::env::temp_dir().join(format!("e2e-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory for logs");
        let ports: Vec<(u16, u16)> = (0..replicas).map(|_| (free_port(), free_port())).collect();
        let public_url = public_url.unwrap_or_else(|| format!("http://127.0.0.1:{}", ports[0].0));
        let secret = |prefix: &str| format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
        let service_token = secret("svc");
        let admin_token = secret("adm");
        let alexa_client_secret = secret("alexa-secret");
        let crypto_key = broker::crypto::generate_key();
        let crypto_key = secrecy::ExposeSecret::expose_secret(&crypto_key).to_owned();
        let env: Vec<(String, String)> = [
            ("BROKER__DATABASE__URL", database.url.as_str()),
            ("BROKER__DATABASE__MAX_CONNECTIONS", "4"),
            ("BROKER__SERVER__PUBLIC_URL", public_url.as_str()),
            ("BROKER__SERVER__SHUTDOWN_TIMEOUT_S", "10"),
            ("BROKER__SPOTIFY__CLIENT_ID", sandbox.client_id.as_str()),
            (
                "BROKER__SPOTIFY__CLIENT_SECRET",
                sandbox.client_secret.as_str(),
            ),
            ("BROKER__SPOTIFY__ACCOUNTS_URL", sandbox.base_url.as_str()),
            ("BROKER__SPOTIFY__API_URL", sandbox.base_url.as_str()),
            ("BROKER__ALEXA__CLIENT_ID", ALEXA_CLIENT_ID),
            ("BROKER__ALEXA__CLIENT_SECRET", alexa_client_secret.as_str()),
            ("BROKER__ALEXA__REDIRECT_URIS", ALEXA_REDIRECT_URI),
            ("BROKER__CRYPTO__KEYS__K1", crypto_key.as_str()),
            ("BROKER__CRYPTO__ACTIVE_KEY_ID", KEY_ID),
            ("BROKER__AUTH__SERVICE_TOKENS", service_token.as_str()),
            ("BROKER__AUTH__ADMIN_TOKENS", admin_token.as_str()),
            ("BROKER__LOG__FORMAT", "json"),
            ("BROKER__LOG__LEVEL", "info"),
        ]
        .into_iter()
        .chain(overrides.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();

        let mut migrate = Process::start("migrate", &binary("broker"), &["migrate"], &env, &dir);
        let status = migrate.wait(Duration::from_secs(60)).await;
        assert!(
            status.success(),
            "broker migrate: {status}\n{}",
            migrate.output()
        );

        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .pool_idle_timeout(Duration::from_millis(300))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a client");
        // Idle connections close soon: a broker's graceful stop waits for open keep-alive connections.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_millis(300))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a client");
        let mut cluster = Self {
            sandbox,
            database,
            brokers: Vec::new(),
            skill: None,
            dir,
            public_url,
            service_token,
            admin_token,
            alexa_client_secret,
            browser,
            http,
            env,
        };
        for (i, (port, admin_port)) in ports.into_iter().enumerate() {
            let broker = cluster.start_broker(i, port, admin_port).await;
            cluster.brokers.push(broker);
        }
        cluster
    }

    /// Starts broker number `i` on these ports and waits until it is ready.
    pub async fn start_broker(&self, i: usize, port: u16, admin_port: u16) -> BrokerProcess {
        let mut env = self.env.clone();
        env.push((
            "BROKER__SERVER__BIND".to_owned(),
            format!("127.0.0.1:{port}"),
        ));
        env.push((
            "BROKER__SERVER__ADMIN_BIND".to_owned(),
            format!("127.0.0.1:{admin_port}"),
        ));
        let mut process = Process::start(
            &format!("broker-{i}"),
            &binary("broker"),
            &["serve", "--no-migrate"],
            &env,
            &self.dir,
        );
        wait_ready(&mut process, &format!("http://127.0.0.1:{port}/readyz")).await;
        BrokerProcess {
            process,
            port,
            admin_port,
        }
    }

    /// Stops broker `i` with SIGTERM, waits for a clean exit and starts it again on the same ports.
    pub async fn restart_broker(&mut self, i: usize) {
        let broker = &mut self.brokers[i];
        broker.process.terminate();
        let status = broker.process.wait(Duration::from_secs(30)).await;
        assert!(
            status.success(),
            "broker-{i} stopped with {status}:\n{}",
            broker.process.output()
        );
        let (port, admin_port) = (broker.port, broker.admin_port);
        self.brokers[i] = self.start_broker(i, port, admin_port).await;
    }

    /// Starts the skill (signature checks off: requests come from the test, not Alexa) against
    /// `broker_url`, on a free port, and returns its base URL.
    pub async fn start_skill(&mut self, broker_url: &str) -> String {
        let port = free_port();
        let env: Vec<(String, String)> = [
            ("SKILL__SERVER__BIND", format!("127.0.0.1:{port}")),
            ("SKILL__ALEXA__SKILL_ID", SKILL_ID.to_owned()),
            ("SKILL__ALEXA__VERIFY_SIGNATURES", "false".to_owned()),
            ("SKILL__BROKER__URL", broker_url.to_owned()),
            ("SKILL__BROKER__SERVICE_TOKEN", self.service_token.clone()),
            ("SKILL__LOG__FORMAT", "json".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut process = Process::start("skill", &binary("skill"), &["serve"], &env, &self.dir);
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&mut process, &format!("{url}/healthz")).await;
        self.skill = Some((process, port));
        url
    }

    /// Every process's output, for failure messages.
    pub fn outputs(&self) -> String {
        let mut text = String::new();
        for broker in &self.brokers {
            text.push_str(&format!(
                "--- {}\n{}",
                broker.process.name,
                broker.process.output()
            ));
        }
        if let Some((skill, _)) = &self.skill {
            text.push_str(&format!("--- skill\n{}", skill.output()));
        }
        text
    }

    /// The browser's leg of linking `user`: `/oauth/authorize` at `authorize_base`, consent at the
    /// sandbox, and Spotify's redirect back to the public URL delivered to `callback_base` instead (a
    /// load balancer may send it to any replica). Returns Alexa's code.
    pub async fn link_code(&self, user: &str, authorize_base: &str, callback_base: &str) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", ALEXA_CLIENT_ID),
                ("redirect_uri", ALEXA_REDIRECT_URI),
                ("state", "alexa-state"),
            ])
            .finish();
        let to_spotify = self
            .redirect(&format!("{authorize_base}/oauth/authorize?{query}"))
            .await;
        let mut consent = url::Url::parse(&to_spotify).expect("spotify url");
        consent.query_pairs_mut().append_pair("sandbox_user", user);
        let back = self.redirect(consent.as_str()).await;
        let callback_prefix = format!("{}/oauth/spotify/callback?", self.public_url);
        let query = back.strip_prefix(&callback_prefix).unwrap_or_else(|| {
            panic!("spotify should send the user to {callback_prefix}…, not {back}")
        });
        let to_alexa = self
            .redirect(&format!("{callback_base}/oauth/spotify/callback?{query}"))
            .await;
        AlexaRedirect::parse(&to_alexa).expect_code()
    }

    /// `GET url` in the browser, expecting a redirect; returns where to.
    async fn redirect(&self, url: &str) -> String {
        let response = self
            .browser
            .get(url)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        if response.status() != StatusCode::FOUND {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            panic!("GET {url}: expected 302, got {status}: {body}");
        }
        response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("a Location header")
            .to_owned()
    }

    /// Alexa's token call at `base`: the code for tokens.
    pub async fn exchange(&self, base: &str, code: &str) -> TokenPair {
        TokenPair::from_response(
            self.token_call(
                base,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", ALEXA_REDIRECT_URI),
                ],
            )
            .await,
        )
        .await
    }

    /// Alexa's refresh grant at `base`.
    pub async fn refresh(&self, base: &str, refresh_token: &str) -> TokenPair {
        TokenPair::from_response(
            self.token_call(
                base,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
            )
            .await,
        )
        .await
    }

    async fn token_call(&self, base: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{base}/oauth/token"))
            .basic_auth(ALEXA_CLIENT_ID, Some(&self.alexa_client_secret))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(crate::app::encode(form))
            .send()
            .await
            .expect("POST /oauth/token")
    }

    /// The skill's call of the broker's internal API at `base`: status and body.
    pub async fn spotify_get(
        &self,
        base: &str,
        access_token: &str,
        path: &str,
    ) -> reqwest::Result<(StatusCode, String)> {
        let response = self
            .http
            .get(format!("{base}/v1/spotify{path}"))
            .bearer_auth(access_token)
            .header("X-Service-Token", &self.service_token)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.text().await?))
    }

    /// An admin call at `admin_base`.
    pub fn admin(
        &self,
        method: reqwest::Method,
        admin_base: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{admin_base}{path}"))
            .bearer_auth(&self.admin_token)
    }

    /// The link id of a Spotify account, from the admin API of broker 0.
    pub async fn link_id_of(&self, spotify_user: &str) -> String {
        let admin = self.brokers[0].admin_url();
        let body: serde_json::Value = self
            .admin(reqwest::Method::GET, &admin, "/admin/links?limit=100")
            .send()
            .await
            .expect("GET /admin/links")
            .json()
            .await
            .expect("a json list");
        body["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["spotify_user_id"].as_str() == Some(spotify_user))
            .and_then(|l| l["link_id"].as_str())
            .unwrap_or_else(|| panic!("no link for {spotify_user}: {body}"))
            .to_owned()
    }
}

/// The skill id the process skill is configured with.
pub const SKILL_ID: &str = "amzn1.ask.skill.00000000-0000-0000-0000-00000000e2e0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_never_gives_a_port_twice() {
        let ports: Vec<u16> = (0..2_000).map(|_| free_port()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
    }
}
