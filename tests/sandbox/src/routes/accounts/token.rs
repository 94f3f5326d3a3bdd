//! `POST /api/token`: exchanges codes and refresh tokens, with Spotify's client authentication and error bodies.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::error::SandboxError;
use crate::routes::fault;
use crate::state::Sandbox;
use crate::state::grants::{ClientAuth, Issued};

/// The form fields the token endpoint reads.
#[derive(Debug, Default)]
struct TokenForm<'a> {
    grant_type: Option<Cow<'a, str>>,
    code: Option<Cow<'a, str>>,
    redirect_uri: Option<Cow<'a, str>>,
    refresh_token: Option<Cow<'a, str>>,
    code_verifier: Option<Cow<'a, str>>,
    client_id: Option<Cow<'a, str>>,
    client_secret: Option<Cow<'a, str>>,
}

impl<'a> TokenForm<'a> {
    fn parse(body: &'a [u8]) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "grant_type" => &mut form.grant_type,
                "code" => &mut form.code,
                "redirect_uri" => &mut form.redirect_uri,
                "refresh_token" => &mut form.refresh_token,
                "code_verifier" => &mut form.code_verifier,
                "client_id" => &mut form.client_id,
                "client_secret" => &mut form.client_secret,
                _ => continue,
            };
            *slot = Some(value);
        }
        form
    }
}

/// Authenticates the client by HTTP Basic, or by `client_id` (+ `client_secret`) in the body.
fn client_auth(
    headers: &HeaderMap,
    form: &TokenForm<'_>,
    sandbox: &Sandbox,
) -> Result<ClientAuth, SandboxError> {
    let invalid_client = || SandboxError::oauth("invalid_client", "Invalid client");
    let invalid_secret = || SandboxError::oauth("invalid_client", "Invalid client secret");
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let encoded = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Basic ")
                    .or_else(|| v.strip_prefix("basic "))
            })
            .ok_or_else(invalid_client)?;
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| invalid_client())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
        if id != sandbox.client_id {
            return Err(invalid_client());
        }
        if secret != sandbox.client_secret {
            return Err(invalid_secret());
        }
        return Ok(ClientAuth::Confidential);
    }
    let id = form.client_id.as_deref().ok_or_else(invalid_client)?;
    if id != sandbox.client_id {
        return Err(invalid_client());
    }
    match form.client_secret.as_deref() {
        None => Ok(ClientAuth::Public),
        Some(secret) if secret == sandbox.client_secret => Ok(ClientAuth::Confidential),
        Some(_) => Err(invalid_secret()),
    }
}

fn render(issued: Issued) -> HttpResponse {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "scope": issued.scope,
        "expires_in": issued.expires_in,
    });
    if let (Some(map), Some(refresh)) = (body.as_object_mut(), issued.refresh_token) {
        map.insert("refresh_token".to_owned(), json!(refresh));
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// Counts the call by grant type, applies any token-endpoint fault, then runs the grant.
pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    let form = TokenForm::parse(&body);
    sandbox.counters.token_call(form.grant_type.as_deref());
    if let Some(kind) = sandbox.faults.take(req.path(), true) {
        return Ok(fault::response(kind));
    }
    let grant_type = match form.grant_type.as_deref() {
        None => {
            return Err(SandboxError::oauth(
                "unsupported_grant_type",
                "grant_type parameter is missing",
            ));
        }
        Some(g @ ("authorization_code" | "refresh_token")) => g,
        Some("client_credentials") => {
            return Err(SandboxError::oauth(
                "unsupported_grant_type",
                "client_credentials is not supported by the sandbox",
            ));
        }
        Some(_) => {
            return Err(SandboxError::oauth(
                "unsupported_grant_type",
                "grant_type must be client_credentials, authorization_code or refresh_token",
            ));
        }
    };
    let auth = client_auth(req.headers(), &form, &sandbox)?;
    let now_s = sandbox.clock.now_s();
    let issued = if grant_type == "authorization_code" {
        let code = form
            .code
            .as_deref()
            .ok_or_else(|| SandboxError::oauth("invalid_request", "code must be supplied"))?;
        let mut world = sandbox.world();
        world.grants.exchange_code(
            code,
            form.redirect_uri.as_deref(),
            form.code_verifier.as_deref(),
            auth,
            now_s,
        )?
    } else {
        let token = form.refresh_token.as_deref().ok_or_else(|| {
            SandboxError::oauth("invalid_request", "refresh_token must be supplied")
        })?;
        let mut world = sandbox.world();
        let world = &mut *world;
        let users = &world.users;
        world.grants.refresh(
            token,
            auth,
            |user| users.get(user).map(|u| u.refresh_mode).unwrap_or_default(),
            now_s,
        )?
    };
    Ok(render(issued))
}
