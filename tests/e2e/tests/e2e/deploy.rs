//! The deployment files, checked statically (no container engine here): the Kubernetes manifests'
//! environment is a configuration both services accept, and the commands they run exist.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every document of a manifest file.
fn manifests(file: &str) -> Vec<Value> {
    let path = repo_root().join("deploy/k8s").join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        })
        .collect()
}

/// The document of `kind` named `name`.
fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// A ConfigMap's `data` or a Secret's `stringData` as environment variables.
fn env_of(doc: &Value, field: &str) -> HashMap<String, String> {
    doc[field]
        .as_mapping()
        .unwrap_or_else(|| panic!("{field} is a mapping"))
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The first container of a Deployment or Job.
fn container(doc: &Value) -> &Value {
    &doc["spec"]["template"]["spec"]["containers"][0]
}

/// The literal `env` entries of a container.
fn literal_env(container: &Value) -> HashMap<String, String> {
    container["env"]
        .as_sequence()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_owned(),
                        e["value"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn broker_manifests_configure_a_broker_that_loads() {
    let config = manifests("base/config.yaml");
    let secrets = manifests("secret.example.yaml");
    let deployment = manifests("base/broker.yaml");
    let broker = container(find(&deployment, "Deployment", "broker"));
    let mut env = env_of(find(&config, "ConfigMap", "broker-config"), "data");
    env.extend(env_of(
        find(&secrets, "Secret", "broker-secrets"),
        "stringData",
    ));
    env.extend(literal_env(broker));

    let settings = broker::config::Settings::load_with_env(
        None,
        config::Environment::with_prefix("BROKER").source(Some(env)),
    )
    .unwrap_or_else(|err| panic!("the manifests' configuration is refused: {err}"));
    assert_eq!(settings.server.bind, "0.0.0.0:8080");
    assert_eq!(settings.server.admin_bind.as_deref(), Some("0.0.0.0:9090"));
    assert_eq!(settings.alexa.redirect_uris.len(), 3);
    assert!(
        settings.database_url_is_postgres(),
        "replicas need postgres"
    );

    assert_eq!(strings(&broker["args"]), ["serve", "--no-migrate"]);
    assert_eq!(
        broker["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        broker["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    let job = manifests("base/migrate-job.yaml");
    assert_eq!(
        strings(&container(find(&job, "Job", "broker-migrate"))["args"]),
        ["migrate"]
    );
}

#[test]
fn skill_manifest_configures_a_skill_that_loads() {
    let secrets = manifests("secret.example.yaml");
    let config = manifests("base/config.yaml");
    let docs = manifests("base/skill.yaml");
    let skill = container(find(&docs, "Deployment", "skill"));
    let mut env = env_of(find(&config, "ConfigMap", "skill-config"), "data");
    env.extend(literal_env(skill));
    env.extend(env_of(
        find(&secrets, "Secret", "skill-secrets"),
        "stringData",
    ));
    let settings = skill::configuration::Settings::load_from(None, env)
        .unwrap_or_else(|err| panic!("the manifest's configuration is refused: {err}"));
    assert_eq!(settings.bind, "0.0.0.0:8081");
    assert_eq!(strings(&skill["command"]), ["/usr/local/bin/skill"]);
    assert_eq!(strings(&skill["args"]), ["serve"]);
}

#[test]
fn only_oauth_and_the_alexa_endpoint_are_public() {
    let docs = manifests("base/ingress.yaml");
    let ingress = find(&docs, "Ingress", "spotify-link");
    let paths: Vec<&str> = ingress["spec"]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["http"]["paths"].as_sequence().unwrap().iter())
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        ["/oauth/", "/alexa"],
        "the internal and admin APIs stay inside the cluster"
    );
}

#[test]
fn the_image_builds_and_ships_all_three_binaries() {
    let dockerfile = std::fs::read_to_string(repo_root().join("deploy/Dockerfile")).unwrap();
    for binary in ["broker", "skill", "spotify-sandbox"] {
        assert!(
            dockerfile.contains(&format!("-p {binary}")),
            "builds {binary}"
        );
        assert!(
            dockerfile.contains(&format!("target/release/{binary}")),
            "copies {binary}"
        );
    }
    assert!(dockerfile.contains("USER 10001:10001"), "runs unprivileged");
}
