//! Every JSON body the sandbox serves, checked against Spotify's OpenAPI description: each `required`
//! property present (through `$ref`, `allOf` and `oneOf`) and every property present of the declared type.

use std::path::PathBuf;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::helpers::start;

fn spec() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/spotify/web-api-openapi.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).expect("openapi parses")
}

fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local ref");
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved {reference}")),
            )
        }
        None => node,
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn check(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) && schema.get("type").is_some() {
            errors.push(format!("{at}: null where the schema has no nullable"));
        }
        return;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            check(spec, part, value, at, errors);
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = one.iter().any(|option| {
            let mut inner = Vec::new();
            check(spec, option, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: fits none of oneOf"));
        }
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        if !type_matches(expected, value) {
            errors.push(format!("{at}: expected {expected}, got {value}"));
            return;
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            match value.get(name) {
                None => errors.push(format!("{at}: missing required {name}")),
                Some(Value::Null) => {
                    let prop = schema
                        .get("properties")
                        .and_then(|p| p.get(name))
                        .map(|p| resolve(spec, p));
                    if prop.and_then(|p| p.get("nullable")) != Some(&Value::Bool(true)) {
                        errors.push(format!("{at}: required {name} is null"));
                    }
                }
                Some(_) => {}
            }
        }
    }
    if let (Some(props), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, prop) in props {
            if let Some(field) = object.get(name) {
                check(spec, prop, field, &format!("{at}.{name}"), errors);
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(spec, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

/// The JSON schema of one documented response.
fn response_schema<'a>(spec: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    let operation = &spec["paths"][path][method];
    let response = resolve(spec, &operation["responses"][status]);
    let schema = &response["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "no schema for {method} {path} {status}");
    schema
}

async fn assert_conforms(spec: &Value, response: Response, path: &str, method: &str) -> Value {
    let status = response.status().as_u16().to_string();
    let body: Value = response.json().await.expect("json body");
    let mut errors = Vec::new();
    check(
        spec,
        response_schema(spec, path, method, &status),
        &body,
        path,
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match the OpenAPI schema: {errors:#?}\n{body:#}"
    );
    body
}

#[tokio::test]
async fn responses_match_the_openapi_description() {
    let spec = spec();
    let h = start().await;
    let t = h.link(None).await.access;

    assert_conforms(&spec, h.get("/v1/me", &t).await, "/me", "get").await;
    let body = assert_conforms(&spec, h.get("/v1/me/player", &t).await, "/me/player", "get").await;
    assert_eq!(body["currently_playing_type"], "track");
    assert_conforms(
        &spec,
        h.get("/v1/me/player/currently-playing", &t).await,
        "/me/player/currently-playing",
        "get",
    )
    .await;
    assert_conforms(
        &spec,
        h.get("/v1/me/player/devices", &t).await,
        "/me/player/devices",
        "get",
    )
    .await;
    let body = assert_conforms(
        &spec,
        h.get("/v1/me/playlists", &t).await,
        "/me/playlists",
        "get",
    )
    .await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
    let search = "/v1/search?q=a&type=track,artist,album,playlist,episode,show";
    let body = assert_conforms(&spec, h.get(search, &t).await, "/search", "get").await;
    assert!(body["tracks"]["total"].as_u64() > Some(0));
    assert!(body["episodes"]["total"].as_u64() > Some(0));

    // Episodes as the current item.
    let play = json!({"uris": ["spotify:episode:512ojhOuo1ktJprKbVcKyQ"]});
    assert_eq!(
        h.api(Method::PUT, "/v1/me/player/play", &t, Some(play))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let body = assert_conforms(
        &spec,
        h.get("/v1/me/player?additional_types=episode", &t).await,
        "/me/player",
        "get",
    )
    .await;
    assert_eq!(body["item"]["type"], "episode");
    assert_conforms(
        &spec,
        h.get(
            "/v1/me/player/currently-playing?additional_types=track,episode",
            &t,
        )
        .await,
        "/me/player/currently-playing",
        "get",
    )
    .await;

    // Error bodies.
    assert_conforms(&spec, h.get("/v1/me", "nope").await, "/me", "get").await;
    h.sandbox.client.rate_limit_next(1, 1).await.expect("fault");
    assert_conforms(&spec, h.get("/v1/me/player", &t).await, "/me/player", "get").await;
    h.sandbox
        .client
        .set_devices("alice", &[])
        .await
        .expect("devices");
    let response = h.api(Method::PUT, "/v1/me/player/pause", &t, None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.expect("json");
    let mut errors = Vec::new();
    check(
        &spec,
        &json!({"$ref": "#/components/responses/NotFound/content/application~1json/schema"}),
        &body,
        "404",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let mut bob = spotify_sandbox::UserSeed::new("bob");
    bob.product = spotify_sandbox::Product::Free;
    h.sandbox.client.seed_user(&bob).await.expect("seed");
    let bob_token = h.link(Some("bob")).await.access;
    let response = h
        .api(Method::POST, "/v1/me/player/next", &bob_token, None)
        .await;
    assert_conforms(&spec, response, "/me/player/next", "post").await;
}

#[test]
fn the_checker_catches_missing_and_mistyped_properties() {
    let spec = spec();
    let schema = json!({"$ref": "#/components/schemas/PagingObject"});
    let mut errors = Vec::new();
    check(
        &spec,
        &schema,
        &json!({"href": "x", "items": [], "limit": "20", "offset": 0, "previous": null, "total": 0}),
        "p",
        &mut errors,
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}
