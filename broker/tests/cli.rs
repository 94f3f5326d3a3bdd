//! The `broker` command line mirrors the admin API: links list (filters, table and JSON), show, revoke,
//! restore, and the audit trail; `keys rewrap` is audited. Runs the real binary on a SQLite file.

#[cfg(test)]
mod cli {
    use std::collections::HashMap;
    use std::process::Command;

    use broker::config::Settings;
    use broker::domain::{SpotifyUserId, UnixTime};
    use broker::startup::open_store;
    use broker::store::{NewLink, SpotifyTokens};
    use secrecy::SecretString;
    use serde_json::Value;

    struct Setup {
        env: Vec<(String, String)>,
        file: std::path::PathBuf,
    }

    impl Drop for Setup {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.file.display()));
            }
        }
    }

    fn setup() -> Setup {
        let file = std::env::temp_dir().join(format!("broker-cli-{}.db", uuid::Uuid::new_v4()));
        let key = broker::crypto::generate_key();
        let env = [
            ("DATABASE__URL", format!("sqlite://{}", file.display())),
            ("SPOTIFY__CLIENT_ID", "spotify-client".to_owned()),
            ("SPOTIFY__CLIENT_SECRET", "spotify-secret".to_owned()),
            ("ALEXA__CLIENT_ID", "alexa-skill".to_owned()),
            ("ALEXA__CLIENT_SECRET", "alexa-secret".to_owned()),
            (
                "ALEXA__REDIRECT_URIS",
                "https://layla.amazon.com/api/skill/link/X".to_owned(),
            ),
            (
                "CRYPTO__KEYS__K1",
                secrecy::ExposeSecret::expose_secret(&key).to_owned(),
            ),
            ("CRYPTO__ACTIVE_KEY_ID", "k1".to_owned()),
            ("AUTH__SERVICE_TOKENS", "svc".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("BROKER__{k}"), v))
        .collect();
        Setup { env, file }
    }

    impl Setup {
        fn settings(&self) -> Settings {
            let env: HashMap<String, String> = self.env.iter().cloned().collect();
            Settings::load_with_env(
                None,
                config::Environment::with_prefix("BROKER").source(Some(env)),
            )
            .unwrap()
        }

        /// Runs `broker <args>`; stdout on success, panics with stderr otherwise.
        fn run(&self, args: &[&str]) -> String {
            let output = self.command(args);
            assert!(
                output.status.success(),
                "broker {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        }

        fn command(&self, args: &[&str]) -> std::process::Output {
            Command::new(env!("CARGO_BIN_EXE_broker"))
                .args(args)
                .env_remove("BROKER_CONFIG")
                .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .output()
                .unwrap()
        }
    }

    fn json_lines(out: &str) -> Vec<Value> {
        out.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn the_command_line_mirrors_the_admin_api() {
        let setup = setup();
        setup.run(&["migrate"]);
        let store = open_store(&setup.settings()).unwrap();
        let now = UnixTime::now();
        let mut ids = Vec::new();
        for user in ["ann", "ben"] {
            let (id, _) = store
                .upsert_link(
                    &NewLink {
                        spotify_user_id: SpotifyUserId::parse(user).unwrap(),
                        display_name: Some(format!("{user} display")),
                        scopes: "user-read-private".to_owned(),
                        tokens: SpotifyTokens {
                            access_token: SecretString::from(format!("{user}-access-secret")),
                            access_expires_at: now.plus_secs(3600),
                            refresh_token: SecretString::from(format!("{user}-refresh-secret")),
                        },
                    },
                    &broker::crypto::DataKey::generate(),
                    now,
                )
                .await
                .unwrap();
            ids.push(id.to_string());
        }
        store.close().await;

        // A table by default, JSON lines with --json, the same shape as GET /admin/links.
        let table = setup.run(&["links", "list"]);
        let mut lines = table.lines();
        assert!(lines.next().unwrap().starts_with("LINK"), "{table}");
        assert_eq!(lines.count(), 2, "{table}");
        assert!(ids.iter().all(|id| table.contains(id.as_str())), "{table}");
        let listed = json_lines(&setup.run(&["links", "list", "--json"]));
        assert_eq!(listed.len(), 2);
        for field in [
            "link_id",
            "status",
            "relink_due_at",
            "last_refreshed_at",
            "last_used_at",
            "sealed_by",
        ] {
            assert!(listed[0].get(field).is_some(), "{field}: {}", listed[0]);
        }
        let shown: Value =
            serde_json::from_str(&setup.run(&["links", "show", &ids[0], "--json"])).unwrap();
        assert_eq!(shown["link_id"], ids[0].as_str());
        let readable = setup.run(&["links", "show", &ids[0]]);
        assert!(readable.contains("relink_due_at") && readable.contains("sealed_by"));

        // Revoke and filter by status; restore refuses a revoked link.
        assert!(setup.run(&["links", "revoke", &ids[1]]).contains("revoked"));
        assert!(setup.run(&["links", "revoke", &ids[1]]).contains("already"));
        let revoked = json_lines(&setup.run(&["links", "list", "--status", "revoked", "--json"]));
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0]["link_id"], ids[1].as_str());
        let due = json_lines(&setup.run(&[
            "links",
            "list",
            "--relink-due-before",
            "2000-01-01T00:00:00Z",
            "--json",
        ]));
        assert!(due.is_empty());
        assert!(
            !setup
                .command(&["links", "restore", &ids[1]])
                .status
                .success()
        );
        assert!(
            !setup
                .command(&["links", "list", "--status", "odd"])
                .status
                .success()
        );

        // keys rewrap is recorded, with no link.
        setup.run(&["keys", "rewrap"]);
        let events = json_lines(&setup.run(&["audit", "--json"]));
        let kinds: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("linked", "user"),
                ("linked", "user"),
                ("revoked", "cli"),
                ("keys_rewrapped", "cli")
            ],
            "{events:#?}"
        );
        assert!(events[3]["link_id"].is_null());
        let revocations = json_lines(&setup.run(&["audit", "--kind", "revoked", "--json"]));
        assert_eq!(revocations.len(), 1);
        let of_ann = json_lines(&setup.run(&["audit", "--link-id", &ids[0], "--json"]));
        assert_eq!(of_ann.len(), 1);
        let table = setup.run(&["audit"]);
        assert!(
            table.starts_with("AT") && table.contains("keys_rewrapped"),
            "{table}"
        );
        assert!(!setup.command(&["audit", "--kind", "odd"]).status.success());
        let everything = format!("{table}{events:?}");
        assert!(
            !everything.contains("-secret"),
            "no token in the audit trail"
        );
    }
}
