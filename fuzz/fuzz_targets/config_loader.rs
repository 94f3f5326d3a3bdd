//! The configuration loaders of the broker and the skill: arbitrary TOML text and environment maps.
//!
//! Input: TOML text, optionally followed by a line `#env` and `KEY=VALUE` lines (given to both
//! loaders: the broker reads `BROKER__…`, the skill `SKILL__…`). When the input's length is odd,
//! marker secrets are layered in through the environment too.
//! Invariants: nothing panics; an accepted broker configuration builds its key ring and has a redirect
//! URI and a service token; the `Debug` form of an accepted configuration shows no secret.

#![no_main]

use libfuzzer_sys::fuzz_target;

const MARKER: &str = "FUZZSECRET";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, env_text) = text.split_once("\n#env\n").unwrap_or((text, ""));
    let mut env: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let markers = data.len() % 2 == 1 && !text.contains(MARKER);
    if markers {
        for (key, n) in [
            ("BROKER__ALEXA__CLIENT_SECRET", 1),
            ("BROKER__SPOTIFY__CLIENT_SECRET", 2),
            ("BROKER__AUTH__SERVICE_TOKENS", 3),
            ("BROKER__AUTH__ADMIN_TOKENS", 4),
            ("BROKER__DATABASE__URL", 5),
            ("SKILL__BROKER__SERVICE_TOKEN", 6),
        ] {
            let value = if n == 5 {
                format!("postgres://u:{MARKER}{n}@localhost/db")
            } else {
                format!("{MARKER}{n}")
            };
            env.retain(|(k, _)| k != key);
            env.push((key.to_owned(), value));
        }
    }

    let map: config::Map<String, String> = env.iter().cloned().collect();
    let broker_env = config::Environment::with_prefix("BROKER").source(Some(map));
    if let Ok(settings) = broker::config::Settings::load_from_toml(toml, broker_env) {
        assert!(settings.key_ring().is_ok(), "accepted, but its key ring does not build");
        assert!(!settings.alexa.redirect_uris.is_empty());
        assert!(!settings.auth.service_tokens.is_empty());
        let _ = settings.database_url();
        let _ = settings.database_url_is_postgres();
        let _ = settings.spotify_callback_url(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
        if markers {
            assert!(!format!("{settings:?}").contains(MARKER), "a secret shows in Debug");
        }
    }
    if let Ok(settings) = skill::configuration::Settings::load_from_toml(toml, env) {
        if markers {
            assert!(!format!("{settings:?}").contains(MARKER), "a secret shows in Debug");
        }
    }
});
