//! The OpenAPI 3 document of every route the broker serves, generated from the handlers' annotations,
//! the proxy's allowlist and the types the broker answers with; served at `GET /openapi.json`.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi as Document, Ref, Required, ResponseBuilder,
};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::proxy::Endpoint;

/// The security scheme names the annotations refer to.
pub const SERVICE_TOKEN: &str = "service_token";
pub const BROKER_TOKEN: &str = "broker_token";
pub const ADMIN_TOKEN: &str = "admin_token";
pub const CLIENT_BASIC: &str = "client_basic";

/// The normalized error of the internal and admin API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// Human text; never a token or a user's data.
    pub message: String,
    /// Seconds to wait before trying again (`rate_limited`), else null.
    #[schema(minimum = 0)]
    pub retry_after_s: Option<u64>,
}

/// Every code of [`crate::error::ApiError`]; a test keeps the two in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    RelinkRequired,
    ServiceUnauthorized,
    Forbidden,
    AppNotPermitted,
    PremiumRequired,
    NoActiveDevice,
    NotFound,
    BadRequest,
    Conflict,
    RateLimited,
    QuotaExceeded,
    UpstreamUnavailable,
    Unavailable,
}

/// An RFC 6749 §5.2 error of the token and revocation endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    pub error: OAuthErrorCode,
    pub error_description: String,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    TemporarilyUnavailable,
}

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Spotify Link for Alexa: token broker",
        description = "The OAuth 2.0 authorization server behind Alexa account linking, the internal \
            API the skill calls (Spotify through the broker), and the operators' API. Errors of the \
            internal and admin API are `ErrorBody`; errors of `/oauth/token` and `/oauth/revoke` are \
            RFC 6749 `OAuthErrorBody`; `/oauth/authorize` and the callback answer browsers with \
            redirects or HTML pages. Account linking is OAuth 2.0's authorization-code flow: \
            `/oauth/authorize`, then `/oauth/token` (refreshes too); its access token is the \
            `broker_token` of the internal API."
    ),
    paths(document, crate::routes::healthz, crate::routes::readyz, crate::routes::metrics),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode, OAuthErrorBody, OAuthErrorCode, Health)),
    modifiers(&SecuritySchemes, &SpotifyEndpoints),
    tags(
        (name = "oauth", description = "Account linking for Alexa (RFC 6749, RFC 7636, RFC 7009)"),
        (name = "internal", description = "For the skill: the user's link and Spotify through the broker"),
        (name = "spotify", description = "Allowlisted Spotify Web API endpoints, proxied and cached"),
        (name = "admin", description = "For operators, with an admin token"),
        (name = "health", description = "Liveness, readiness and this document"),
        (name = "metrics", description = "Prometheus metrics, on the admin listener when `server.admin_bind` is set"),
    )
)]
struct BrokerDoc;

/// The whole document: the broker's own paths and those of each area.
pub fn build() -> Document {
    let mut doc = BrokerDoc::openapi();
    doc.merge(crate::oauth::ApiDoc::openapi());
    doc.merge(crate::api::ApiDoc::openapi());
    doc.merge(crate::admin::ApiDoc::openapi());
    add_header_limit_answers(&mut doc);
    doc
}

/// Every route may answer 431: the header limit is checked before routing.
fn add_header_limit_answers(doc: &mut Document) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let (schema, description) = if crate::oauth::answers_rfc6749_json(path) {
            (
                "OAuthErrorBody",
                "`invalid_request`: the request headers are larger than `server.max_header_bytes`",
            )
        } else {
            (
                "ErrorBody",
                "`bad_request`: the request headers are larger than `server.max_header_bytes`",
            )
        };
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation.responses.responses.insert(
                "431".to_owned(),
                error_response_with(schema, description).into(),
            );
        }
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    build()
        .to_json()
        .unwrap_or_else(|err| format!(r#"{{"error":"{err}"}}"#))
});

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "health",
    responses((status = 200, description = "the OpenAPI 3 document of every route", content_type = "application/json", body = Object))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SERVICE_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Service-Token",
                "the skill's credential, one of `auth.service_tokens`",
            ))),
        );
        components.add_security_scheme(
            BROKER_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("bat_")
                    .description(Some(
                        "the user's linked token: a broker access token from /oauth/token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ADMIN_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "an operator's credential, one of `auth.admin_tokens`; the audit trail \
                         records it as `admin:` and the first 8 hex digits of its SHA-256",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            CLIENT_BASIC,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "client_secret_basic: the OAuth client's id and secret (form-urlencoded \
                         per RFC 6749 §2.3.1, or raw). The alternative, client_secret_post, sends \
                         `client_id` and `client_secret` in the form body; never both",
                    ))
                    .build(),
            ),
        );
    }
}

/// One operation per allowlisted Spotify endpoint, under `/v1/spotify`.
struct SpotifyEndpoints;

fn error_response(description: &str) -> utoipa::openapi::Response {
    error_response_with("ErrorBody", description)
}

fn error_response_with(schema: &str, description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}

fn header_parameter(
    name: &str,
    required: bool,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
        ))
        .build()
}

/// The headers every internal call may carry besides its credentials.
pub fn internal_headers() -> [utoipa::openapi::path::Parameter; 2] {
    [
        header_parameter(
            "X-Alexa-User-Id",
            false,
            "Alexa's userId; bound (as a hash) to the link so that disabling the skill finds it",
        ),
        ParameterBuilder::new()
            .name("X-Request-Deadline-Ms")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "the caller's remaining budget in milliseconds; capped at `proxy.max_deadline_ms`",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(u32::MAX)),
            ))
            .build(),
    ]
}

/// The credentials of every internal call: the user's token and the skill's.
pub fn internal_security() -> SecurityRequirement {
    SecurityRequirement::new(BROKER_TOKEN, Vec::<String>::new())
        .add(SERVICE_TOKEN, Vec::<String>::new())
}

impl Modify for SpotifyEndpoints {
    fn modify(&self, openapi: &mut Document) {
        for (method, path, endpoint) in Endpoint::allowlist() {
            let http_method = match *method {
                "GET" => HttpMethod::Get,
                "PUT" => HttpMethod::Put,
                _ => HttpMethod::Post,
            };
            let cached = endpoint.cache_policy(&crate::config::Freshness {
                me: 0,
                playlists: 0,
                player: 0,
                search: 0,
            });
            let cache_header = utoipa::openapi::HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(utoipa::openapi::Type::String)
                        .enum_values(Some(["hit", "miss", "revalidated", "stale"])),
                )
                .description(Some("where the answer came from"))
                .build();
            let answer = |description: &str, with_body: bool| {
                let mut response = ResponseBuilder::new()
                    .description(description)
                    .header("X-Broker-Cache", cache_header.clone());
                if with_body {
                    response = response.content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(
                                ObjectBuilder::new()
                                    .schema_type(utoipa::openapi::Type::Object)
                                    .description(Some("Spotify's answer, unchanged")),
                            ))
                            .build(),
                    );
                }
                response.build()
            };
            let mut operation = OperationBuilder::new()
                .tag("spotify")
                .operation_id(Some(format!(
                    "spotify_{}{}",
                    method.to_ascii_lowercase(),
                    path.replace(['/', '-'], "_")
                )))
                .summary(Some(format!("Spotify {method} /v1{path}")))
                .description(Some(match cached {
                    Some(_) => {
                        "Forwarded to Spotify as the linked user, through the response cache"
                    }
                    None => "Forwarded to Spotify as the linked user; never cached or retried",
                }))
                .security(internal_security())
                .response("200", answer("Spotify's answer", true))
                .response("204", answer("Spotify answered without a body", false));
            for parameter in internal_headers() {
                operation = operation.parameter(parameter);
            }
            if path.contains("{id}") {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name("id")
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .description(Some("a Spotify id: 22 letters and digits"))
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(utoipa::openapi::Type::String)
                                .pattern(Some("^[A-Za-z0-9]{22}$")),
                        ))
                        .build(),
                );
            }
            if http_method != HttpMethod::Get {
                operation =
                    operation.response("202", answer("Spotify accepted the command", false));
                operation = operation.response(
                    "413",
                    error_response(
                        "`bad_request`: the body is larger than `server.max_body_bytes`",
                    ),
                );
                operation = operation.request_body(Some(
                    utoipa::openapi::request_body::RequestBodyBuilder::new()
                        .description(Some("passed to Spotify unchanged"))
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(
                                    ObjectBuilder::new().schema_type(utoipa::openapi::Type::Object),
                                ))
                                .build(),
                        )
                        .build(),
                ));
            }
            for (status, description) in [
                (
                    "400",
                    "`bad_request`: malformed input, or Spotify refused the request as such",
                ),
                (
                    "401",
                    "`relink_required` (the user must link again) or `service_unauthorized`",
                ),
                (
                    "403",
                    "`forbidden`, `app_not_permitted` or `premium_required`",
                ),
                ("404", "`no_active_device` or `not_found`"),
                (
                    "429",
                    "`rate_limited` or `quota_exceeded`: wait `Retry-After` seconds",
                ),
                (
                    "503",
                    "`upstream_unavailable` (Spotify) or `unavailable` (the broker's store)",
                ),
            ] {
                operation = operation.response(status, error_response(description));
            }
            openapi.paths.add_path_operation(
                format!("/v1/spotify{path}"),
                vec![http_method],
                operation,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::error::ApiError;
    use crate::routes::table;

    fn document_json() -> serde_json::Value {
        serde_json::from_str(&DOCUMENT).unwrap()
    }

    /// Every (method, path) the broker serves: the route table and the proxy's allowlist.
    fn served() -> BTreeSet<(String, String)> {
        let mut served: BTreeSet<_> = table()
            .into_iter()
            .map(|route| {
                (
                    route.method.as_str().to_ascii_lowercase(),
                    route.path.to_owned(),
                )
            })
            .collect();
        for (method, path, _) in Endpoint::allowlist() {
            served.insert((method.to_ascii_lowercase(), format!("/v1/spotify{path}")));
        }
        served
    }

    fn documented(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
        let methods = [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ];
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                methods
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(move |m| ((*m).to_owned(), path.clone()))
            })
            .collect()
    }

    #[test]
    fn every_route_served_is_documented_and_nothing_else() {
        let doc = document_json();
        let served = served();
        let documented = documented(&doc);
        let undocumented: Vec<_> = served.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes without documentation: {undocumented:?}"
        );
        let phantom: Vec<_> = documented.difference(&served).collect();
        assert!(phantom.is_empty(), "documented but not served: {phantom:?}");
        // The table is not trivially small: every area is there.
        for expected in [
            ("post", "/oauth/token"),
            ("get", "/v1/link"),
            ("delete", "/admin/links/{link_id}"),
            ("get", "/admin/audit"),
            ("get", "/v1/spotify/me/player"),
            ("put", "/v1/spotify/me/player"),
            ("get", "/openapi.json"),
        ] {
            assert!(
                served.contains(&(expected.0.to_owned(), expected.1.to_owned())),
                "{expected:?}"
            );
        }
    }

    #[test]
    fn parses_as_openapi_3_and_every_reference_resolves() {
        // An independent OpenAPI 3.1 model reads the whole document.
        let spec: oas3::OpenApiV3Spec = serde_json::from_str(&DOCUMENT).unwrap();
        assert_eq!(spec.validate_version().unwrap().major, 3);
        assert!(spec.operations().count() >= 20);
        let doc = document_json();
        // Every $ref points at a component that exists.
        fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                        out.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let pointer = reference.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "dangling {reference}");
        }
        // Every operation has responses, an error body for its failures, and declares each path
        // parameter of its template; every security requirement names a scheme.
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        let mut operation_ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(
                    operation_ids.insert(id.to_owned()),
                    "operationId {id} twice"
                );
                let responses = operation["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path}");
                let templated: Vec<_> = path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                    .collect();
                for name in templated {
                    let declared = operation["parameters"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| p["name"] == name && p["in"] == "path")
                    });
                    assert!(declared, "{method} {path}: path parameter {name}");
                }
                for requirement in operation["security"].as_array().into_iter().flatten() {
                    for name in requirement.as_object().unwrap().keys() {
                        assert!(schemes.contains_key(name), "{method} {path}: {name}");
                    }
                }
                let failures = responses
                    .keys()
                    .any(|s| s.starts_with('4') || s.starts_with('5'));
                if path != "/healthz" && path != "/openapi.json" {
                    assert!(failures, "{method} {path} documents no failure");
                }
            }
        }
    }

    #[test]
    fn error_codes_match_the_api_errors() {
        let errors = [
            ApiError::RelinkRequired("x"),
            ApiError::ServiceUnauthorized,
            ApiError::Forbidden,
            ApiError::AppNotPermitted,
            ApiError::PremiumRequired,
            ApiError::NoActiveDevice,
            ApiError::NotFound,
            ApiError::BadRequest("x".to_owned()),
            ApiError::Conflict("x".to_owned()),
            ApiError::RateLimited { retry_after_s: 1 },
            ApiError::QuotaExceeded { retry_after_s: 1 },
            ApiError::UpstreamUnavailable,
            ApiError::Unexpected(anyhow::anyhow!("x")),
        ];
        let from_errors: BTreeSet<_> = errors.iter().map(|e| e.code().as_str()).collect();
        let doc = document_json();
        let documented: BTreeSet<_> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(from_errors, documented);
    }
}
