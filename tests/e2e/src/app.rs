//! The real broker on a free port, over a fresh database and a sandbox Spotify, with typed helpers for
//! Alexa's side of account linking.

use std::collections::HashMap;
use std::time::Duration;

use broker::config::Settings;
use broker::crypto::{DataKey, WrapAad};
use broker::domain::{LinkId, TokenHash, UnixTime};
use broker::startup::{Application, Migrations};
use broker::store::Store;
use reqwest::{Response, StatusCode};
use spotify_sandbox::RunningSandbox;
use sqlx::AnyPool;

use crate::database::{Backend, TestDatabase, open_store, test_key_ring};
use crate::oauth::{AlexaRedirect, TokenPair};

/// The client id entered in the Alexa console.
pub const ALEXA_CLIENT_ID: &str = "alexa-skill";
/// The first allowed Alexa redirect URI (never fetched; only parsed out of `Location`).
pub const ALEXA_REDIRECT_URI: &str = "https://layla.amazon.com/api/skill/link/M2AAAAAAAAAAAA";
/// The second allowed Alexa redirect URI.
pub const ALEXA_REDIRECT_URI_2: &str = "https://pitangui.amazon.com/api/skill/link/M2AAAAAAAAAAAA";
/// The id of the broker's only key.
pub const KEY_ID: &str = "k1";

/// How to start a broker.
#[derive(Debug, Clone)]
pub struct BrokerSetup {
    pub backend: Backend,
    /// Configuration keys in dotted form (`oauth.refresh_token_grace_s`), applied last.
    pub overrides: Vec<(String, String)>,
    /// A database URL to use instead of a fresh database (e.g. an unreachable server).
    pub database_url: Option<String>,
    pub migrations: Migrations,
}

impl BrokerSetup {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            overrides: Vec::new(),
            database_url: None,
            migrations: Migrations::Apply,
        }
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.overrides.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A running broker and everything a test needs to talk to it and to look behind it.
pub struct TestBroker {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    pub port: u16,
    /// `http://127.0.0.1:<port>` of the admin listener, when `server.admin_bind` is set.
    pub admin_base_url: Option<String>,
    /// The database URL the broker uses.
    pub db_url: String,
    /// A store over the broker's database with the broker's key ring, for direct checks.
    pub store: Store,
    /// The sandbox Spotify the broker talks to.
    pub sandbox: RunningSandbox,
    /// An HTTP client that never follows redirects.
    pub http: reqwest::Client,
    pub alexa_client_id: String,
    pub alexa_client_secret: String,
    /// The first registered Alexa redirect URI.
    pub redirect_uri: String,
    pub service_token: String,
    pub admin_token: String,
    /// The base64 key `k1`, the broker's only and active key.
    pub crypto_key: String,
    pub spotify_client_secret: String,
    server: actix_web::dev::ServerHandle,
    database: Option<TestDatabase>,
}

impl TestBroker {
    /// The link behind a live broker access token, its Spotify tokens opened the way the broker opens
    /// them: the token's wrap of the link's data key (or the key ring, for a link not moved yet).
    pub async fn open_link(&self, access_token: &str) -> broker::store::Link {
        let hash = TokenHash::of(access_token);
        let record = self
            .store
            .find_access_token(&hash, UnixTime::now())
            .await
            .expect("reading the access token")
            .expect("a live access token");
        let key = record.wrapped_data_key.as_ref().map(|wrapped| {
            DataKey::unwrap_with(wrapped, access_token, &WrapAad::new(&record.link_id, &hash))
                .expect("the token's wrap opens")
        });
        self.store
            .link(&record.link_id, key.as_ref())
            .await
            .expect("reading the link")
            .expect("the link exists")
    }

    /// Stops the broker's HTTP server, letting in-flight requests finish, as SIGTERM does.
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker")
            .field("base_url", &self.base_url)
            .field("db_url", &self.db_url)
            .finish_non_exhaustive()
    }
}

/// Starts a broker on `backend` with a fresh database; `overrides` are dotted configuration keys.
pub async fn spawn_broker(
    backend: Backend,
    sandbox: RunningSandbox,
    overrides: &[(&str, &str)],
) -> TestBroker {
    let mut setup = BrokerSetup::new(backend);
    for (key, value) in overrides {
        setup = setup.with(key, value);
    }
    try_spawn_broker(setup, sandbox)
        .await
        .unwrap_or_else(|err| panic!("starting the broker: {err:#}"))
}

/// Starts a broker as `setup` says; the error is `Application::build`'s.
pub async fn try_spawn_broker(
    setup: BrokerSetup,
    sandbox: RunningSandbox,
) -> anyhow::Result<TestBroker> {
    crate::logs::init();
    let database = match setup.database_url {
        Some(_) => None,
        None => Some(TestDatabase::create(setup.backend).await),
    };
    let db_url = match (&setup.database_url, &database) {
        (Some(url), _) => url.clone(),
        (None, Some(db)) => db.url.clone(),
        (None, None) => unreachable!("a database url or a fresh database"),
    };
    let secret = |prefix: &str| format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    let alexa_client_secret = secret("alexa-secret");
    let service_token = secret("svc");
    let admin_token = secret("adm");
    let crypto_key = broker::crypto::generate_key();
    let crypto_key = secrecy::ExposeSecret::expose_secret(&crypto_key).to_owned();
    let mut values = base_values(&BaseValues {
        db_url: &db_url,
        sandbox: &sandbox,
        alexa_client_secret: &alexa_client_secret,
        service_token: &service_token,
        admin_token: &admin_token,
        crypto_key: &crypto_key,
    });
    values.extend(setup.overrides);
    let settings = settings_from(values)?;
    let db_url = secrecy::ExposeSecret::expose_secret(&settings.database_url()).to_owned();
    let app = Application::build(settings, setup.migrations).await?;
    let port = app.port();
    let base_url = format!("http://127.0.0.1:{port}");
    let admin_base_url = app
        .admin_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let server = app.server_handle();
    tokio::spawn(app.run_until_stopped());
    let store = open_store(&db_url, test_key_ring(&[(KEY_ID, &crypto_key)], KEY_ID));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()?;
    Ok(TestBroker {
        base_url,
        port,
        admin_base_url,
        db_url,
        store,
        spotify_client_secret: sandbox.client_secret.clone(),
        sandbox,
        http,
        alexa_client_id: ALEXA_CLIENT_ID.to_owned(),
        alexa_client_secret,
        redirect_uri: ALEXA_REDIRECT_URI.to_owned(),
        service_token,
        admin_token,
        crypto_key,
        server,
        database,
    })
}

/// A linking attempt the broker started: where it sent the browser, and the cookie it set there.
#[derive(Debug, Clone)]
pub struct StartedAuthorization {
    pub to_spotify: url::Url,
    /// `name=value`, as the browser sends it back.
    pub cookie: String,
}

impl StartedAuthorization {
    /// A parameter of the broker's request to Spotify (`state`, `show_dialog`, …).
    pub fn param(&self, name: &str) -> Option<String> {
        self.to_spotify
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The cookie's value (the browser-binding secret).
    pub fn cookie_value(&self) -> String {
        self.cookie
            .split_once('=')
            .map(|(_, value)| value.to_owned())
            .expect("name=value")
    }

    /// The broker's `state` toward Spotify.
    pub fn state(&self) -> String {
        self.param("state").expect("state toward spotify")
    }
}

/// The linking cookie a response sets, as `name=value`.
pub fn linking_cookie(response: &Response) -> Option<String> {
    set_cookie_header(response)
        .and_then(|header| header.split(';').next().map(|pair| pair.trim().to_owned()))
}

/// The whole `Set-Cookie` header of the linking cookie, attributes included.
pub fn set_cookie_header(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("broker_link=") || v.starts_with("__Host-broker_link="))
        .map(str::to_owned)
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{} has no Location header", response.url()))
}

async fn expect_redirect(response: Response, step: &str) -> String {
    if response.status() != StatusCode::FOUND {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        panic!("{step}: expected 302, got {status}: {body}");
    }
    location(&response)
}

impl TestBroker {
    /// `base_url` joined with `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The test's fresh database, when it has one.
    pub fn database(&self) -> Option<&TestDatabase> {
        self.database.as_ref()
    }

    /// A plain pool on the broker's database, for reading and tampering with rows.
    pub async fn raw_pool(&self) -> AnyPool {
        self.database
            .as_ref()
            .expect("this broker has no test database")
            .raw_pool()
            .await
    }

    /// Which backend the broker runs on.
    pub fn backend(&self) -> Backend {
        match self.store.backend() {
            broker::store::Backend::Postgres => Backend::Postgres,
            broker::store::Backend::Sqlite => Backend::Sqlite,
        }
    }

    /// A valid authorization request as Alexa sends it (`response_type`, `client_id`, `redirect_uri`,
    /// `state`, `scope`).
    pub fn authorize_params(&self, state: &str) -> Vec<(String, String)> {
        vec![
            ("response_type".to_owned(), "code".to_owned()),
            ("client_id".to_owned(), self.alexa_client_id.clone()),
            ("redirect_uri".to_owned(), self.redirect_uri.clone()),
            ("state".to_owned(), state.to_owned()),
            ("scope".to_owned(), "playback".to_owned()),
        ]
    }

    /// `GET /oauth/authorize` with exactly these parameters.
    pub async fn authorize<K: AsRef<str>, V: AsRef<str>>(&self, params: &[(K, V)]) -> Response {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .finish();
        self.authorize_raw(&query).await
    }

    /// `GET /oauth/authorize?<query>` with the query as given.
    pub async fn authorize_raw(&self, query: &str) -> Response {
        self.http
            .get(format!("{}/oauth/authorize?{query}", self.base_url))
            .send()
            .await
            .expect("GET /oauth/authorize")
    }

    /// Starts linking and returns where the broker sends the user at Spotify (the sandbox's `/authorize`)
    /// with the linking cookie the browser now holds.
    pub async fn start_authorization<K: AsRef<str>, V: AsRef<str>>(
        &self,
        params: &[(K, V)],
    ) -> StartedAuthorization {
        let response = self.authorize(params).await;
        let cookie = linking_cookie(&response)
            .unwrap_or_else(|| panic!("GET /oauth/authorize set no linking cookie"));
        let to_spotify = expect_redirect(response, "GET /oauth/authorize").await;
        assert!(
            to_spotify.starts_with(&format!("{}/authorize?", self.sandbox.base_url)),
            "the broker should send the user to spotify's /authorize, not {to_spotify}"
        );
        StartedAuthorization {
            to_spotify: url::Url::parse(&to_spotify).expect("spotify url"),
            cookie,
        }
    }

    /// `GET /oauth/spotify/callback?<query>` from a browser without the linking cookie.
    pub async fn callback_raw(&self, query: &str) -> Response {
        self.callback_in_browser(query, None).await
    }

    /// `GET /oauth/spotify/callback?<query>` carrying `cookie` (`name=value`) as a browser would.
    pub async fn callback_in_browser(&self, query: &str, cookie: Option<&str>) -> Response {
        let mut request = self
            .http
            .get(format!("{}/oauth/spotify/callback?{query}", self.base_url));
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request.send().await.expect("GET /oauth/spotify/callback")
    }

    /// The user's consent at the sandbox Spotify (as `sandbox_user`, or the default user): the callback URL
    /// Spotify sends the browser back to.
    pub async fn consent_at_spotify(
        &self,
        to_spotify: &url::Url,
        sandbox_user: Option<&str>,
    ) -> String {
        let mut to_spotify = to_spotify.clone();
        if let Some(user) = sandbox_user {
            to_spotify
                .query_pairs_mut()
                .append_pair("sandbox_user", user);
        }
        let consent = self
            .http
            .get(to_spotify)
            .send()
            .await
            .expect("GET sandbox /authorize");
        let back = expect_redirect(consent, "sandbox /authorize").await;
        let callback_prefix = format!("{}/oauth/spotify/callback?", self.base_url);
        assert!(
            back.starts_with(&callback_prefix),
            "spotify should send the user back to the broker's callback, not {back}"
        );
        back
    }

    /// The whole browser leg: broker `/oauth/authorize` → sandbox `/authorize` (as `sandbox_user`, or the
    /// default user) → broker callback with the linking cookie → Alexa's redirect URI, which is parsed, not
    /// fetched.
    pub async fn follow_to_spotify_and_back<K: AsRef<str>, V: AsRef<str>>(
        &self,
        params: &[(K, V)],
        sandbox_user: Option<&str>,
    ) -> AlexaRedirect {
        let started = self.start_authorization(params).await;
        let back = self
            .consent_at_spotify(&started.to_spotify, sandbox_user)
            .await;
        let done = self
            .http
            .get(&back)
            .header(reqwest::header::COOKIE, &started.cookie)
            .send()
            .await
            .expect("GET /oauth/spotify/callback");
        let to_alexa = expect_redirect(done, "GET /oauth/spotify/callback").await;
        AlexaRedirect::parse(&to_alexa)
    }

    /// Links `user` and returns Alexa's one-time code (no PKCE).
    pub async fn code_for(&self, user: &str) -> String {
        self.follow_to_spotify_and_back(&self.authorize_params("alexa-state"), Some(user))
            .await
            .expect_code()
    }

    /// `POST /oauth/token` with HTTP Basic client authentication.
    pub async fn token_with_basic<K: AsRef<str>, V: AsRef<str>>(
        &self,
        form: &[(K, V)],
    ) -> Response {
        self.token_request()
            .basic_auth(&self.alexa_client_id, Some(&self.alexa_client_secret))
            .body(encode(form))
            .send()
            .await
            .expect("POST /oauth/token")
    }

    /// `POST /oauth/token` with `client_id` and `client_secret` in the body.
    pub async fn token_with_body<K: AsRef<str>, V: AsRef<str>>(&self, form: &[(K, V)]) -> Response {
        let mut pairs: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        pairs.push(("client_id".to_owned(), self.alexa_client_id.clone()));
        pairs.push(("client_secret".to_owned(), self.alexa_client_secret.clone()));
        self.token_request()
            .body(encode(&pairs))
            .send()
            .await
            .expect("POST /oauth/token")
    }

    /// A `POST /oauth/token` with the form content type and nothing else, for malformed requests.
    pub fn token_request(&self) -> reqwest::RequestBuilder {
        self.http.post(self.url("/oauth/token")).header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
    }

    /// Exchanges a code (with Basic credentials), expecting success.
    pub async fn exchange_code(&self, code: &str, verifier: Option<&str>) -> TokenPair {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        TokenPair::from_response(self.token_with_basic(&form).await).await
    }

    /// `grant_type=refresh_token` with Basic credentials.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.token_with_basic(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Links `user` end to end and returns Alexa's tokens.
    pub async fn link_user(&self, user: &str) -> TokenPair {
        let code = self.code_for(user).await;
        self.exchange_code(&code, None).await
    }

    /// The link id of a Spotify account.
    pub async fn link_id_of(&self, spotify_user: &str) -> LinkId {
        let links = self
            .store
            .list_links(None, 500)
            .await
            .expect("listing links");
        links
            .iter()
            .find(|l| l.spotify_user_id.as_str() == spotify_user)
            .map(|l| l.link_id)
            .unwrap_or_else(|| panic!("no link for spotify user {spotify_user}"))
    }

    /// `GET /v1/link` as the skill calls it, with the user's access token.
    pub async fn link_status(&self, access_token: &str) -> Response {
        self.http
            .get(self.url("/v1/link"))
            .bearer_auth(access_token)
            .header("X-Service-Token", &self.service_token)
            .send()
            .await
            .expect("GET /v1/link")
    }

    /// `POST /oauth/revoke` with Basic credentials.
    pub async fn revoke_token(&self, token: &str) -> Response {
        self.http
            .post(self.url("/oauth/revoke"))
            .basic_auth(&self.alexa_client_id, Some(&self.alexa_client_secret))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encode(&[("token", token)]))
            .send()
            .await
            .expect("POST /oauth/revoke")
    }

    /// `GET <path>` on the broker.
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }
}

/// `application/x-www-form-urlencoded` of `pairs`, in order (repeats kept).
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        .finish()
}

/// What a test broker's configuration is made of.
struct BaseValues<'a> {
    db_url: &'a str,
    sandbox: &'a RunningSandbox,
    alexa_client_secret: &'a str,
    service_token: &'a str,
    admin_token: &'a str,
    crypto_key: &'a str,
}

/// The dotted configuration keys of a broker on port 0 against `sandbox`.
fn base_values(base: &BaseValues<'_>) -> Vec<(String, String)> {
    [
        ("server.bind", "127.0.0.1:0"),
        ("database.url", base.db_url),
        ("database.max_connections", "4"),
        ("spotify.client_id", &base.sandbox.client_id),
        ("spotify.client_secret", &base.sandbox.client_secret),
        ("spotify.accounts_url", &base.sandbox.base_url),
        ("spotify.api_url", &base.sandbox.base_url),
        ("alexa.client_id", ALEXA_CLIENT_ID),
        ("alexa.client_secret", base.alexa_client_secret),
        (
            "alexa.redirect_uris",
            &format!("{ALEXA_REDIRECT_URI},{ALEXA_REDIRECT_URI_2}"),
        ),
        ("crypto.keys.k1", base.crypto_key),
        ("crypto.active_key_id", KEY_ID),
        ("auth.service_tokens", base.service_token),
        ("auth.admin_tokens", base.admin_token),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect()
}

/// Settings from dotted keys, exactly as the `BROKER__…` environment would give them.
pub fn settings_from(
    values: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Settings> {
    let env: HashMap<String, String> = values
        .into_iter()
        .map(|(key, value)| {
            (
                format!("BROKER__{}", key.replace('.', "__").to_uppercase()),
                value,
            )
        })
        .collect();
    Ok(Settings::load_with_env(
        None,
        config::Environment::with_prefix("BROKER").source(Some(env)),
    )?)
}

impl TestBroker {
    /// The configuration of another broker process sharing this one's database, sandbox, keys and
    /// credentials: a second replica, or this broker after a restart.
    pub fn replica_settings(&self, overrides: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let mut values = base_values(&BaseValues {
            db_url: &self.db_url,
            sandbox: &self.sandbox,
            alexa_client_secret: &self.alexa_client_secret,
            service_token: &self.service_token,
            admin_token: &self.admin_token,
            crypto_key: &self.crypto_key,
        });
        values.extend(
            overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        settings_from(values)
    }
}
