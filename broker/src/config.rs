//! Layered configuration: built-in defaults, then an optional file, then `BROKER__SECTION__KEY` variables.

use std::collections::BTreeMap;
use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::crypto::KeyRing;
use crate::domain::{ClientId, KeyId, RedirectUri};

/// The default store: an embedded SQLite file beside the process.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://broker.db";

/// Keys that hold lists; in the environment they are comma-separated.
const LIST_KEYS: [&str; 4] = [
    "alexa.redirect_uris",
    "spotify.scopes",
    "auth.service_tokens",
    "auth.admin_tokens",
];

#[derive(Debug, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub spotify: SpotifySettings,
    pub alexa: AlexaSettings,
    pub crypto: CryptoSettings,
    pub auth: AuthSettings,
    pub oauth: OAuthSettings,
    pub proxy: ProxyConfig,
    pub cache: CacheConfig,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Deserialize)]
pub struct ProxyConfig {
    /// Budget when the skill sends no `X-Request-Deadline-Ms`.
    pub default_deadline_ms: u64,
    /// The longest budget a caller may ask for.
    pub max_deadline_ms: u64,
    /// How long a background fetch that fills the cache may take.
    pub fetch_budget_ms: u64,
    /// Retries of a GET after a connection error or 5xx.
    pub max_retries: u32,
    /// Cap on the `Retry-After` passed on (and paused for) after a Spotify 429.
    pub max_retry_after_s: u64,
    /// While Spotify refuses the app because its owner lacks Premium, one request per this many
    /// seconds (per replica) still goes to Spotify to notice the renewal.
    pub app_incident_probe_s: u64,
}

#[derive(Debug, Deserialize)]
pub struct CacheConfig {
    /// Most cached Spotify answers.
    pub max_entries: u64,
    /// Most bytes of cached Spotify answers.
    pub max_bytes: u64,
    /// Most broker tokens and links held in memory.
    pub max_links: u64,
    /// Seconds a cached answer is fresh, per kind of endpoint (`me`, `playlists`, `player`, `search`).
    pub fresh_s: Freshness,
}

/// The HTTP versions the Web API's client speaks (`spotify.http_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    /// HTTP/1.1 only (the default: at low concurrency it costs less CPU and latency per call).
    Http1,
    /// HTTP/2 where the TLS handshake agrees on it (Spotify's API does), else HTTP/1.1; plain `http` URLs
    /// get HTTP/1.1.
    Auto,
    /// HTTP/2 only, over plain `http` URLs too (h2c with prior knowledge): for a local server known to
    /// speak it, such as the benchmark's upstream.
    Http2,
}

/// Fresh lifetimes per kind of endpoint, in seconds (`cache.fresh_s.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Freshness {
    pub me: u64,
    pub playlists: u64,
    pub player: u64,
    pub search: u64,
}

#[derive(Debug, Deserialize)]
pub struct ServerSettings {
    /// Listen address; port 0 picks a free port.
    pub bind: String,
    /// A second listen address for `/admin/*` (and metrics); when set, the main listener serves
    /// neither.
    pub admin_bind: Option<String>,
    /// External base URL; the Spotify callback is `{public_url}/oauth/spotify/callback`. Unset means the
    /// bound address (`http://127.0.0.1:<port>` when bound to all interfaces), for local runs and tests.
    pub public_url: Option<Url>,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_s: u64,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted header block of a request, in bytes (names, values and line overhead).
    pub max_header_bytes: usize,
}

#[derive(Debug, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://…`; unset means an embedded SQLite file.
    pub url: Option<SecretString>,
    pub max_connections: u32,
    /// Seconds to wait for a connection before answering `unavailable`.
    pub acquire_timeout_s: u64,
    /// Postgres: milliseconds one statement may run (waiting on locks included) before the server cancels
    /// it and the request answers `unavailable`; 0 for no limit.
    pub statement_timeout_ms: u64,
    /// Whether `serve` applies pending migrations before listening.
    pub migrate_on_start: bool,
}

#[derive(Debug, Deserialize)]
pub struct SpotifySettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub accounts_url: Url,
    pub api_url: Url,
    pub scopes: Vec<String>,
    /// Timeout of one call to Spotify, in milliseconds.
    pub timeout_ms: u64,
    /// The HTTP versions Web API calls may use.
    pub http_version: HttpVersion,
    /// Refresh the access token this many seconds before it expires.
    pub refresh_margin_s: i64,
    /// How long one replica may hold a link's refresh lease.
    pub refresh_lease_s: i64,
    /// Pause before asking Spotify again to confirm an `invalid_grant` (milliseconds).
    pub invalid_grant_confirm_ms: u64,
    /// Links refused within a minute from which refusals are treated as a Spotify incident.
    pub relink_incident_threshold: i64,
}

#[derive(Debug, Deserialize)]
pub struct AlexaSettings {
    pub client_id: ClientId,
    pub client_secret: SecretString,
    pub redirect_uris: Vec<RedirectUri>,
}

#[derive(Debug, Deserialize)]
pub struct CryptoSettings {
    /// Key id → base64 32-byte key.
    pub keys: BTreeMap<String, SecretString>,
    pub active_key_id: String,
}

#[derive(Debug, Deserialize)]
pub struct AuthSettings {
    pub service_tokens: Vec<SecretString>,
    pub admin_tokens: Vec<SecretString>,
}

#[derive(Debug, Deserialize)]
pub struct OAuthSettings {
    /// Lifetime of a broker access token (Alexa requires at least 360 s).
    pub access_token_ttl_s: i64,
    /// How long a rotated-out refresh token keeps working.
    pub refresh_token_grace_s: i64,
    /// Lifetime of an authorization code (at most 600 s).
    pub authorization_code_ttl_s: i64,
    /// How long a user has to finish consent at Spotify.
    pub pending_authorization_ttl_s: i64,
    /// Pending authorizations one source address may start per minute.
    pub authorize_per_minute_per_address: u32,
    /// Pending authorizations one client may start per minute, over all addresses.
    pub authorize_per_minute_per_client: u32,
    /// Failed client authentications one source address may make per minute at the token and revocation
    /// endpoints; past them it gets 429 until its allowance recovers.
    pub failed_client_auth_per_minute_per_address: u32,
}

#[derive(Debug, Deserialize)]
pub struct LogSettings {
    /// `json` (production) or `pretty` (local).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `broker=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct MetricsSettings {
    /// Whether the broker records metrics and serves `GET /metrics` (off only to measure their cost).
    pub enabled: bool,
    /// How often links are counted by status for `broker_links`.
    pub links_refresh_s: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Why the configuration cannot be used; always names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key {key}: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// A numeric key within `min..=max`: the bounds keep every later clamp and `Duration`/`Instant` sum sound.
fn within<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(invalid(
            key,
            format!("must be between {min} and {max}, not {value}"),
        ));
    }
    Ok(())
}

/// The longest deadline, budget or timeout in milliseconds.
const MAX_MS: u64 = 60_000;
/// The longest token or grant lifetime.
const YEAR_S: i64 = 366 * 24 * 3600;
/// The longest a cached answer may stay fresh.
const DAY_S: u64 = 24 * 3600;

impl Settings {
    /// Loads defaults, then `file` (if given), then the `BROKER__…` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, config::Environment::with_prefix("BROKER"))
    }

    /// Like [`Settings::load`], with an explicit environment source (tests pass a map).
    pub fn load_with_env(
        file: Option<&Path>,
        env: config::Environment,
    ) -> Result<Self, ConfigError> {
        let file = match file {
            Some(file) if !file.is_file() => {
                return Err(invalid(
                    "--config",
                    format!("{} is not a readable file", file.display()),
                ));
            }
            Some(file) => Some(config::File::from(file)),
            None => None,
        };
        Self::load_layers(file, env)
    }

    /// Like [`Settings::load_with_env`], with the configuration file's TOML text given directly (the
    /// fuzz target and property tests feed it arbitrary text).
    pub fn load_from_toml(toml: &str, env: config::Environment) -> Result<Self, ConfigError> {
        Self::load_layers(
            Some(config::File::from_str(toml, config::FileFormat::Toml)),
            env,
        )
    }

    fn load_layers(
        file: Option<impl config::Source + Send + Sync + 'static>,
        env: config::Environment,
    ) -> Result<Self, ConfigError> {
        let mut env = env
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .try_parsing(true);
        for key in LIST_KEYS {
            env = env.with_list_parse_key(key);
        }
        let mut builder = config::Config::builder()
            .set_default("server.bind", "127.0.0.1:8080")?
            .set_default("server.shutdown_timeout_s", 10)?
            .set_default("server.max_body_bytes", 64 * 1024)?
            .set_default(
                "server.max_header_bytes",
                broker_proto::limits::DEFAULT_MAX_HEADER_BYTES as u64,
            )?
            .set_default("database.max_connections", 10)?
            .set_default("database.acquire_timeout_s", 3)?
            .set_default("database.statement_timeout_ms", 3000)?
            .set_default("database.migrate_on_start", true)?
            .set_default("spotify.accounts_url", "https://accounts.spotify.com")?
            .set_default("spotify.api_url", "https://api.spotify.com")?
            .set_default(
                "spotify.scopes",
                vec![
                    "user-read-private",
                    "user-read-playback-state",
                    "user-modify-playback-state",
                    "user-read-currently-playing",
                    "playlist-read-private",
                ],
            )?
            .set_default("spotify.timeout_ms", 3000)?
            .set_default("spotify.http_version", "http1")?
            .set_default("spotify.refresh_margin_s", 60)?
            .set_default("spotify.refresh_lease_s", 15)?
            .set_default("spotify.invalid_grant_confirm_ms", 1000)?
            .set_default("spotify.relink_incident_threshold", 3)?
            .set_default("proxy.default_deadline_ms", 5000)?
            .set_default("proxy.max_deadline_ms", 10_000)?
            .set_default("proxy.fetch_budget_ms", 5000)?
            .set_default("proxy.max_retries", 2)?
            .set_default("proxy.max_retry_after_s", 60)?
            .set_default("proxy.app_incident_probe_s", 60)?
            .set_default("cache.max_entries", 50_000)?
            .set_default("cache.max_bytes", 64 * 1024 * 1024)?
            .set_default("cache.max_links", 100_000)?
            .set_default("cache.fresh_s.me", 300)?
            .set_default("cache.fresh_s.playlists", 30)?
            .set_default("cache.fresh_s.player", 1)?
            .set_default("cache.fresh_s.search", 60)?
            .set_default("alexa.redirect_uris", Vec::<String>::new())?
            .set_default("auth.service_tokens", Vec::<String>::new())?
            .set_default("auth.admin_tokens", Vec::<String>::new())?
            .set_default("oauth.access_token_ttl_s", 3600)?
            .set_default("oauth.refresh_token_grace_s", 30 * 24 * 3600)?
            .set_default("oauth.authorization_code_ttl_s", 300)?
            .set_default("oauth.pending_authorization_ttl_s", 600)?
            .set_default("oauth.authorize_per_minute_per_address", 30)?
            .set_default("oauth.authorize_per_minute_per_client", 600)?
            .set_default("oauth.failed_client_auth_per_minute_per_address", 20)?
            .set_default("log.format", "json")?
            .set_default("log.level", "info")?
            .set_default("metrics.enabled", true)?
            .set_default("metrics.links_refresh_s", 30)?;
        if let Some(file) = file {
            builder = builder.add_source(file);
        }
        let settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.alexa.redirect_uris.is_empty() {
            return Err(invalid(
                "alexa.redirect_uris",
                "at least one alexa redirect url is required",
            ));
        }
        if self.auth.service_tokens.is_empty() {
            return Err(invalid(
                "auth.service_tokens",
                "at least one service token is required",
            ));
        }
        if self.spotify.client_id.trim().is_empty() {
            return Err(invalid("spotify.client_id", "must not be empty"));
        }
        if self.oauth.access_token_ttl_s < 360 {
            return Err(invalid(
                "oauth.access_token_ttl_s",
                "alexa requires at least 360 seconds",
            ));
        }
        self.validate_ranges()?;
        if self.spotify.refresh_lease_s * 1000
            <= i64::try_from(self.spotify.timeout_ms).unwrap_or(i64::MAX)
        {
            return Err(invalid(
                "spotify.refresh_lease_s",
                "must outlast spotify.timeout_ms",
            ));
        }
        if self.spotify.invalid_grant_confirm_ms > 60_000
            || i64::try_from(self.spotify.invalid_grant_confirm_ms).unwrap_or(i64::MAX)
                >= self.spotify.refresh_lease_s.saturating_mul(1000) / 2
        {
            return Err(invalid(
                "spotify.invalid_grant_confirm_ms",
                "must be at most 60000 and less than half of spotify.refresh_lease_s",
            ));
        }
        if self.spotify.relink_incident_threshold < 1 {
            return Err(invalid(
                "spotify.relink_incident_threshold",
                "must be at least 1",
            ));
        }
        if self.proxy.default_deadline_ms > self.proxy.max_deadline_ms {
            return Err(invalid(
                "proxy.default_deadline_ms",
                "must not exceed proxy.max_deadline_ms",
            ));
        }
        self.key_ring()?;
        Ok(())
    }

    /// Every numeric key against its sane range, so no later arithmetic can panic or overflow.
    fn validate_ranges(&self) -> Result<(), ConfigError> {
        let Self {
            server,
            database,
            spotify,
            oauth,
            proxy,
            cache,
            metrics,
            ..
        } = self;
        within("metrics.links_refresh_s", metrics.links_refresh_s, 1, 3600)?;
        within(
            "server.shutdown_timeout_s",
            server.shutdown_timeout_s,
            1,
            3600,
        )?;
        within(
            "server.max_body_bytes",
            server.max_body_bytes,
            1024,
            16 << 20,
        )?;
        within(
            "server.max_header_bytes",
            server.max_header_bytes,
            broker_proto::limits::MIN_MAX_HEADER_BYTES,
            broker_proto::limits::MAX_MAX_HEADER_BYTES,
        )?;
        within(
            "database.max_connections",
            database.max_connections,
            1,
            1000,
        )?;
        within(
            "database.acquire_timeout_s",
            database.acquire_timeout_s,
            1,
            300,
        )?;
        within(
            "database.statement_timeout_ms",
            database.statement_timeout_ms,
            0,
            MAX_MS,
        )?;
        within("spotify.timeout_ms", spotify.timeout_ms, 1, MAX_MS)?;
        within(
            "spotify.refresh_margin_s",
            spotify.refresh_margin_s,
            0,
            1800,
        )?;
        within("spotify.refresh_lease_s", spotify.refresh_lease_s, 1, 3600)?;
        within(
            "proxy.default_deadline_ms",
            proxy.default_deadline_ms,
            1,
            MAX_MS,
        )?;
        within("proxy.max_deadline_ms", proxy.max_deadline_ms, 1, MAX_MS)?;
        within("proxy.fetch_budget_ms", proxy.fetch_budget_ms, 1, MAX_MS)?;
        within("proxy.max_retries", proxy.max_retries, 0, 10)?;
        within("proxy.max_retry_after_s", proxy.max_retry_after_s, 1, 3600)?;
        within(
            "proxy.app_incident_probe_s",
            proxy.app_incident_probe_s,
            1,
            86_400,
        )?;
        within("cache.max_entries", cache.max_entries, 1, 100_000_000)?;
        within("cache.max_bytes", cache.max_bytes, 1, 1 << 40)?;
        within("cache.max_links", cache.max_links, 1, 100_000_000)?;
        let fresh = &cache.fresh_s;
        within("cache.fresh_s.me", fresh.me, 0, DAY_S)?;
        within("cache.fresh_s.playlists", fresh.playlists, 0, DAY_S)?;
        within("cache.fresh_s.player", fresh.player, 0, DAY_S)?;
        within("cache.fresh_s.search", fresh.search, 0, DAY_S)?;
        within(
            "oauth.access_token_ttl_s",
            oauth.access_token_ttl_s,
            360,
            YEAR_S,
        )?;
        within(
            "oauth.refresh_token_grace_s",
            oauth.refresh_token_grace_s,
            1,
            YEAR_S,
        )?;
        within(
            "oauth.authorization_code_ttl_s",
            oauth.authorization_code_ttl_s,
            1,
            600,
        )?;
        within(
            "oauth.pending_authorization_ttl_s",
            oauth.pending_authorization_ttl_s,
            1,
            24 * 3600,
        )?;
        within(
            "oauth.authorize_per_minute_per_address",
            oauth.authorize_per_minute_per_address,
            1,
            1_000_000,
        )?;
        within(
            "oauth.authorize_per_minute_per_client",
            oauth.authorize_per_minute_per_client,
            1,
            1_000_000,
        )?;
        within(
            "oauth.failed_client_auth_per_minute_per_address",
            oauth.failed_client_auth_per_minute_per_address,
            1,
            1_000_000,
        )?;
        Ok(())
    }

    /// The token cipher's key ring, with the key id named in any error.
    pub fn key_ring(&self) -> Result<KeyRing, ConfigError> {
        let active = KeyId::parse(&self.crypto.active_key_id)
            .map_err(|e| invalid("crypto.active_key_id", e.0))?;
        let mut keys = Vec::with_capacity(self.crypto.keys.len());
        for (raw_id, key) in &self.crypto.keys {
            let id =
                KeyId::parse(raw_id).map_err(|e| invalid(&format!("crypto.keys.{raw_id}"), e.0))?;
            keys.push((id, key.clone()));
        }
        KeyRing::new(keys, active).map_err(|e| invalid("crypto.keys", e.to_string()))
    }

    /// The database URL, defaulting to the embedded SQLite file.
    pub fn database_url(&self) -> SecretString {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL.to_owned()))
    }

    /// Whether the store is PostgreSQL (required for more than one replica).
    pub fn database_url_is_postgres(&self) -> bool {
        self.database.url.as_ref().is_some_and(|url| {
            let url = secrecy::ExposeSecret::expose_secret(url);
            url.starts_with("postgres://") || url.starts_with("postgresql://")
        })
    }

    /// Where Spotify sends the user back after consent, given the address the server is bound to.
    pub fn spotify_callback_url(&self, bound: std::net::SocketAddr) -> String {
        let base = match &self.server.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None if bound.ip().is_unspecified() => format!("http://127.0.0.1:{}", bound.port()),
            None => format!("http://{bound}"),
        };
        format!("{base}/oauth/spotify/callback")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> config::Environment {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        config::Environment::with_prefix("BROKER").source(Some(map))
    }

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("BROKER__SPOTIFY__CLIENT_ID", "sp"),
            ("BROKER__SPOTIFY__CLIENT_SECRET", "sps"),
            ("BROKER__ALEXA__CLIENT_ID", "alexa"),
            ("BROKER__ALEXA__CLIENT_SECRET", "as"),
            (
                "BROKER__ALEXA__REDIRECT_URIS",
                "https://a.example/cb,https://b.example/cb",
            ),
            ("BROKER__CRYPTO__KEYS__K1", KEY),
            ("BROKER__CRYPTO__ACTIVE_KEY_ID", "k1"),
            ("BROKER__AUTH__SERVICE_TOKENS", "svc1,svc2"),
        ]
    }

    #[test]
    fn environment_fills_lists_and_maps() {
        let settings = Settings::load_with_env(None, env(&minimal())).unwrap();
        assert_eq!(settings.alexa.redirect_uris.len(), 2);
        assert_eq!(settings.auth.service_tokens.len(), 2);
        assert!(settings.crypto.keys.contains_key("k1"));
        assert_eq!(settings.server.bind, "127.0.0.1:8080");
    }

    /// Every numeric key, with a value below its range (when it has one a type allows) and one above.
    const NUMERIC_KEYS: [(&str, Option<&str>, &str); 25] = [
        ("server.shutdown_timeout_s", Some("0"), "3601"),
        ("server.max_body_bytes", Some("0"), "1000000000"),
        ("server.max_header_bytes", Some("1023"), "65537"),
        ("database.max_connections", Some("0"), "100000"),
        ("database.acquire_timeout_s", Some("0"), "100000"),
        ("spotify.timeout_ms", Some("0"), "9223372036854775807"),
        (
            "spotify.refresh_margin_s",
            Some("-1"),
            "9223372036854775807",
        ),
        ("spotify.refresh_lease_s", Some("0"), "9223372036854775807"),
        (
            "proxy.default_deadline_ms",
            Some("0"),
            "9223372036854775807",
        ),
        ("proxy.max_deadline_ms", Some("0"), "9223372036854775807"),
        ("proxy.fetch_budget_ms", Some("0"), "9223372036854775807"),
        ("proxy.max_retries", None, "4294967295"),
        ("proxy.max_retry_after_s", Some("0"), "9223372036854775807"),
        ("cache.max_entries", Some("0"), "9223372036854775807"),
        ("cache.max_bytes", Some("0"), "9223372036854775807"),
        ("cache.max_links", Some("0"), "9223372036854775807"),
        ("cache.fresh_s.me", None, "9223372036854775807"),
        ("cache.fresh_s.playlists", None, "9223372036854775807"),
        ("cache.fresh_s.player", None, "9223372036854775807"),
        ("cache.fresh_s.search", None, "9223372036854775807"),
        ("oauth.access_token_ttl_s", Some("0"), "9223372036854775807"),
        (
            "oauth.refresh_token_grace_s",
            Some("0"),
            "9223372036854775807",
        ),
        ("oauth.authorization_code_ttl_s", Some("0"), "601"),
        (
            "oauth.pending_authorization_ttl_s",
            Some("0"),
            "9223372036854775807",
        ),
        (
            "oauth.authorize_per_minute_per_address",
            Some("0"),
            "4294967295",
        ),
    ];

    fn load_error(key: &str, value: &str) -> String {
        let var = format!("BROKER__{}", key.replace('.', "__").to_uppercase());
        let mut pairs: Vec<(String, String)> = minimal()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        pairs.push((var, value.to_owned()));
        let map: HashMap<String, String> = pairs.into_iter().collect();
        let env = config::Environment::with_prefix("BROKER").source(Some(map));
        match Settings::load_with_env(None, env) {
            Ok(_) => panic!("{key} = {value} was accepted"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn every_numeric_key_is_range_checked_by_name() {
        for (key, low, high) in NUMERIC_KEYS {
            for value in low.into_iter().chain([high]) {
                let err = load_error(key, value);
                assert!(err.contains(key), "{key} = {value}: {err}");
            }
        }
        let err = load_error("oauth.authorize_per_minute_per_client", "0");
        assert!(
            err.contains("oauth.authorize_per_minute_per_client"),
            "{err}"
        );
        assert!(load_error("proxy.default_deadline_ms", "20000").contains("proxy.max_deadline_ms"));
        let err = load_error("spotify.timeout_ms", "20000");
        assert!(err.contains("spotify.refresh_lease_s"), "{err}");
    }

    #[test]
    fn defaults_are_within_range() {
        let settings = Settings::load_with_env(None, env(&minimal())).unwrap();
        assert_eq!(settings.proxy.max_retry_after_s, 60);
        assert_eq!(settings.oauth.authorize_per_minute_per_address, 30);
        assert_eq!(settings.oauth.authorize_per_minute_per_client, 600);
        assert_eq!(settings.server.max_header_bytes, 16 * 1024);
    }

    #[test]
    fn the_http_version_is_one_of_three_named_values() {
        let settings = Settings::load_with_env(None, env(&minimal())).unwrap();
        assert_eq!(settings.spotify.http_version, HttpVersion::Http1);
        for (value, version) in [("auto", HttpVersion::Auto), ("http2", HttpVersion::Http2)] {
            let mut pairs = minimal();
            pairs.push(("BROKER__SPOTIFY__HTTP_VERSION", value));
            let settings = Settings::load_with_env(None, env(&pairs)).unwrap();
            assert_eq!(settings.spotify.http_version, version);
        }
        let err = load_error("spotify.http_version", "http3");
        assert!(err.contains("spotify.http_version"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let mut pairs = minimal();
        pairs.retain(|(k, _)| *k != "BROKER__ALEXA__CLIENT_SECRET");
        let err = Settings::load_with_env(None, env(&pairs))
            .unwrap_err()
            .to_string();
        assert!(err.contains("alexa.client_secret"), "{err}");

        let mut pairs = minimal();
        pairs.push(("BROKER__CRYPTO__KEYS__K2", "c2hvcnQ="));
        let err = Settings::load_with_env(None, env(&pairs))
            .unwrap_err()
            .to_string();
        assert!(err.contains("k2") && err.contains("32 bytes"), "{err}");
        assert!(!err.contains("c2hvcnQ="), "{err}");

        let mut pairs = minimal();
        pairs.push(("BROKER__ALEXA__REDIRECT_URIS", "http://evil.example/cb"));
        pairs.remove(4);
        let err = Settings::load_with_env(None, env(&pairs))
            .unwrap_err()
            .to_string();
        assert!(err.contains("redirect_uri"), "{err}");
    }
}
