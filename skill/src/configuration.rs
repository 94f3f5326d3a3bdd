//! Layered configuration (defaults < `--config` file < `SKILL__SECTION__KEY` environment) checked into typed settings.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::identifiers::{ServiceToken, SkillId};

/// Why configuration could not be loaded; each message names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigurationError {
    /// A required key has no value in any layer.
    #[error("missing configuration key `{0}` (set it in the config file or as {env})", env = env_name(.0))]
    Missing(&'static str),
    /// A key has a value that does not parse or is out of range.
    #[error("invalid configuration key `{key}`: {reason}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The layers themselves could not be read or merged (file missing, wrong types); the message
    /// names the key.
    #[error("reading configuration: {0}")]
    Source(config::ConfigError),
}

impl From<config::ConfigError> for ConfigurationError {
    fn from(error: config::ConfigError) -> Self {
        Self::Source(error)
    }
}

fn env_name(key: &str) -> String {
    format!("SKILL__{}", key.replace('.', "__").to_uppercase())
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable lines (local development).
    Pretty,
    /// Pretty on a terminal, JSON otherwise.
    Auto,
}

/// Whether Alexa's request signatures are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureChecks {
    /// Production: every request must prove it comes from Alexa.
    Enforced,
    /// Local development only: certificate, signature and timestamp checks are skipped.
    DisabledForDevelopment,
}

/// Everything the skill needs to run, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `server.bind`: listen address.
    pub bind: String,
    /// `server.max_header_bytes`: the largest header block a request may carry.
    pub max_header_bytes: usize,
    /// `log.format`.
    pub log_format: LogFormat,
    /// `alexa.skill_id`.
    pub skill_id: SkillId,
    /// `alexa.verify_signatures`.
    pub signature_checks: SignatureChecks,
    /// `alexa.time_budget_ms`: how long the skill may take to answer Alexa.
    pub time_budget: Duration,
    /// `alexa.cert_fetch_timeout_ms`: timeout for downloading Alexa's signing certificate chain.
    pub cert_fetch_timeout: Duration,
    /// `alexa.relink_reminder_days`: how long before `relink_due_at` the skill starts reminding.
    pub relink_reminder_window: chrono::Duration,
    /// `broker.url`: the broker's base URL.
    pub broker_url: Url,
    /// `broker.service_token`: the skill's credential at the broker.
    pub service_token: ServiceToken,
}

#[derive(Debug, Deserialize)]
struct RawSettings {
    server: RawServer,
    #[serde(default)]
    log: RawLog,
    alexa: RawAlexa,
    #[serde(default)]
    broker: RawBroker,
}

#[derive(Debug, Deserialize)]
struct RawServer {
    bind: String,
    max_header_bytes: u64,
}

#[derive(Debug, Default, Deserialize)]
struct RawLog {
    format: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawAlexa {
    skill_id: Option<String>,
    verify_signatures: bool,
    time_budget_ms: u64,
    cert_fetch_timeout_ms: u64,
    relink_reminder_days: i64,
}

#[derive(Debug, Default, Deserialize)]
struct RawBroker {
    url: Option<String>,
    service_token: Option<String>,
}

/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8081";

impl Settings {
    /// Loads the layers: built-in defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigurationError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigurationError> {
        Self::load_layers(file.map(|f| config::File::from(f).required(true)), env)
    }

    /// Like [`Settings::load_from`], with the configuration file's TOML text given directly (the fuzz
    /// target and property tests feed it arbitrary text).
    pub fn load_from_toml(
        toml: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigurationError> {
        Self::load_layers(
            Some(config::File::from_str(toml, config::FileFormat::Toml)),
            env,
        )
    }

    fn load_layers(
        file: Option<impl config::Source + Send + Sync + 'static>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigurationError> {
        let env: config::Map<String, String> = env.into_iter().collect();
        let mut builder = config::Config::builder()
            .set_default("server.bind", DEFAULT_BIND)?
            .set_default(
                "server.max_header_bytes",
                broker_proto::limits::DEFAULT_MAX_HEADER_BYTES as u64,
            )?
            .set_default("alexa.verify_signatures", true)?
            .set_default("alexa.time_budget_ms", 6000)?
            .set_default("alexa.cert_fetch_timeout_ms", 2000)?
            .set_default("alexa.relink_reminder_days", 14)?;
        if let Some(file) = file {
            builder = builder.add_source(file);
        }
        builder = builder.add_source(
            config::Environment::with_prefix("SKILL")
                .prefix_separator("__")
                .separator("__")
                .source(Some(env)),
        );
        let raw: RawSettings = builder.build()?.try_deserialize()?;
        Self::check(raw)
    }

    fn check(raw: RawSettings) -> Result<Self, ConfigurationError> {
        let invalid =
            |key: &'static str, reason: String| ConfigurationError::Invalid { key, reason };

        let bind = raw.server.bind.trim().to_owned();
        if bind.is_empty() || !bind.contains(':') {
            return Err(invalid("server.bind", "expected host:port".into()));
        }

        let header_range = broker_proto::limits::MIN_MAX_HEADER_BYTES as u64
            ..=broker_proto::limits::MAX_MAX_HEADER_BYTES as u64;
        let max_header_bytes = usize::try_from(raw.server.max_header_bytes)
            .ok()
            .filter(|_| header_range.contains(&raw.server.max_header_bytes))
            .ok_or_else(|| {
                invalid(
                    "server.max_header_bytes",
                    format!(
                        "must be between {} and {}",
                        header_range.start(),
                        header_range.end()
                    ),
                )
            })?;

        let log_format = match raw
            .log
            .format
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") | Some("") => LogFormat::Auto,
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(invalid(
                    "log.format",
                    format!("expected json, pretty or auto, got {other:?}"),
                ));
            }
        };

        let skill_id = raw
            .alexa
            .skill_id
            .filter(|s| !s.trim().is_empty())
            .ok_or(ConfigurationError::Missing("alexa.skill_id"))?;
        let skill_id = SkillId::parse(skill_id.trim())
            .map_err(|e| invalid("alexa.skill_id", e.to_string()))?;

        let signature_checks = if raw.alexa.verify_signatures {
            SignatureChecks::Enforced
        } else {
            SignatureChecks::DisabledForDevelopment
        };

        if !(500..=7500).contains(&raw.alexa.time_budget_ms) {
            return Err(invalid(
                "alexa.time_budget_ms",
                "must be between 500 and 7500 (Alexa waits 8 seconds at most)".into(),
            ));
        }
        if !(100..=5000).contains(&raw.alexa.cert_fetch_timeout_ms) {
            return Err(invalid(
                "alexa.cert_fetch_timeout_ms",
                "must be between 100 and 5000".into(),
            ));
        }
        if !(0..=180).contains(&raw.alexa.relink_reminder_days) {
            return Err(invalid(
                "alexa.relink_reminder_days",
                "must be between 0 and 180".into(),
            ));
        }

        let broker_url = raw
            .broker
            .url
            .filter(|s| !s.trim().is_empty())
            .ok_or(ConfigurationError::Missing("broker.url"))?;
        let broker_url = parse_base_url(broker_url.trim()).map_err(|r| invalid("broker.url", r))?;

        let service_token = raw
            .broker
            .service_token
            .filter(|s| !s.trim().is_empty())
            .ok_or(ConfigurationError::Missing("broker.service_token"))?;
        let service_token = ServiceToken::parse(service_token.trim())
            .map_err(|e| invalid("broker.service_token", e.to_string()))?;

        Ok(Self {
            bind,
            max_header_bytes,
            log_format,
            skill_id,
            signature_checks,
            time_budget: Duration::from_millis(raw.alexa.time_budget_ms),
            cert_fetch_timeout: Duration::from_millis(raw.alexa.cert_fetch_timeout_ms),
            relink_reminder_window: chrono::Duration::days(raw.alexa.relink_reminder_days),
            broker_url,
            service_token,
        })
    }
}

/// Parses a base URL (http or https, a host, no query) and makes sure it ends with `/` so joins keep its path.
pub fn parse_base_url(value: &str) -> Result<Url, String> {
    let mut url = Url::parse(value).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected an http or https URL".into());
    }
    if url.host_str().is_none() {
        return Err("the URL has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL must not have a query or fragment".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn complete() -> Vec<(String, String)> {
        env(&[
            ("SKILL__ALEXA__SKILL_ID", "amzn1.ask.skill.test"),
            ("SKILL__BROKER__URL", "http://127.0.0.1:8080"),
            ("SKILL__BROKER__SERVICE_TOKEN", "svc_token"),
        ])
    }

    #[test]
    fn defaults_and_environment() {
        let settings = Settings::load_from(None, complete()).unwrap();
        assert_eq!(settings.bind, DEFAULT_BIND);
        assert_eq!(settings.max_header_bytes, 16 * 1024);
        assert_eq!(settings.signature_checks, SignatureChecks::Enforced);
        assert_eq!(settings.time_budget, Duration::from_millis(6000));
        assert_eq!(settings.broker_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(settings.skill_id.as_str(), "amzn1.ask.skill.test");
    }

    #[test]
    fn environment_overrides_booleans_and_numbers() {
        let mut vars = complete();
        vars.extend(env(&[
            ("SKILL__ALEXA__VERIFY_SIGNATURES", "false"),
            ("SKILL__ALEXA__TIME_BUDGET_MS", "4000"),
            ("SKILL__SERVER__BIND", "0.0.0.0:9000"),
            ("SKILL__LOG__FORMAT", "pretty"),
        ]));
        let settings = Settings::load_from(None, vars).unwrap();
        assert_eq!(
            settings.signature_checks,
            SignatureChecks::DisabledForDevelopment
        );
        assert_eq!(settings.time_budget, Duration::from_millis(4000));
        assert_eq!(settings.bind, "0.0.0.0:9000");
        assert_eq!(settings.log_format, LogFormat::Pretty);
    }

    #[test]
    fn missing_keys_are_named() {
        let err =
            Settings::load_from(None, env(&[("SKILL__BROKER__URL", "http://x")])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("alexa.skill_id"), "{message}");
        assert!(message.contains("SKILL__ALEXA__SKILL_ID"), "{message}");

        let mut vars = complete();
        vars.retain(|(k, _)| k != "SKILL__BROKER__SERVICE_TOKEN");
        let err = Settings::load_from(None, vars).unwrap_err();
        assert!(err.to_string().contains("broker.service_token"));
    }

    #[test]
    fn malformed_values_are_named() {
        let mut vars = complete();
        vars.push(("SKILL__BROKER__URL".into(), "ftp://x".into()));
        let err = Settings::load_from(None, vars).unwrap_err();
        assert!(err.to_string().contains("broker.url"), "{err}");

        let mut vars = complete();
        vars.push(("SKILL__ALEXA__TIME_BUDGET_MS".into(), "9000".into()));
        let err = Settings::load_from(None, vars).unwrap_err();
        assert!(err.to_string().contains("alexa.time_budget_ms"), "{err}");

        let mut vars = complete();
        vars.push(("SKILL__ALEXA__TIME_BUDGET_MS".into(), "soon".into()));
        let err = Settings::load_from(None, vars).unwrap_err();
        assert!(err.to_string().contains("time_budget_ms"), "{err}");
    }

    #[test]
    fn every_numeric_key_is_range_checked_by_name() {
        for (key, var, low) in [
            (
                "server.max_header_bytes",
                "SKILL__SERVER__MAX_HEADER_BYTES",
                "1023",
            ),
            ("alexa.time_budget_ms", "SKILL__ALEXA__TIME_BUDGET_MS", "0"),
            (
                "alexa.cert_fetch_timeout_ms",
                "SKILL__ALEXA__CERT_FETCH_TIMEOUT_MS",
                "0",
            ),
            (
                "alexa.relink_reminder_days",
                "SKILL__ALEXA__RELINK_REMINDER_DAYS",
                "-1",
            ),
        ] {
            for value in [low, "65537", "9223372036854775807"] {
                let mut vars = complete();
                vars.push((var.into(), value.into()));
                let err = Settings::load_from(None, vars).unwrap_err();
                assert!(err.to_string().contains(key), "{key} = {value}: {err}");
            }
        }
    }

    #[test]
    fn the_example_file_loads() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("skill.example.toml");
        let settings = Settings::load_from(Some(&file), Vec::new()).unwrap();
        assert_eq!(settings.bind, DEFAULT_BIND);
        assert_eq!(settings.relink_reminder_window, chrono::Duration::days(14));
    }

    #[test]
    fn file_layer_sits_between_defaults_and_environment() {
        let dir = std::env::temp_dir().join(format!("skill-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("skill.toml");
        std::fs::write(
            &file,
            "[server]\nbind = \"127.0.0.1:7000\"\n[alexa]\nskill_id = \"from-file\"\n[broker]\nurl = \"https://broker.example/base\"\nservice_token = \"t\"\n",
        )
        .unwrap();
        let settings =
            Settings::load_from(Some(&file), env(&[("SKILL__ALEXA__SKILL_ID", "from-env")]))
                .unwrap();
        assert_eq!(settings.bind, "127.0.0.1:7000");
        assert_eq!(settings.skill_id.as_str(), "from-env");
        assert_eq!(settings.broker_url.as_str(), "https://broker.example/base/");
        std::fs::remove_dir_all(&dir).ok();
    }
}
