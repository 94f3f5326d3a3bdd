//! `GET /authorize`: consent that approves at once, redirecting back with a code (or `access_denied`).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use url::Url;

use crate::error::SandboxError;
use crate::state::Sandbox;

/// Query of `/authorize`, Spotify's parameters plus `sandbox_user`.
#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    response_type: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    code_challenge_method: Option<String>,
    code_challenge: Option<String>,
    sandbox_user: Option<String>,
}

fn redirect(mut to: Url, pairs: &[(&str, &str)], state: Option<&str>) -> HttpResponse {
    {
        let mut query = to.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, to.as_str()))
        .finish()
}

/// Validates the request like Spotify, then approves (or denies) for the named or default user.
pub async fn authorize(
    query: web::Query<AuthorizeQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    let q = query.into_inner();
    if q.client_id.as_deref() != Some(sandbox.client_id.as_str()) {
        return Err(SandboxError::Authorize("INVALID_CLIENT: Invalid client"));
    }
    let redirect_uri = q
        .redirect_uri
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .ok_or(SandboxError::Authorize(
            "INVALID_CLIENT: Invalid redirect URI",
        ))?;
    match q.response_type.as_deref() {
        Some("code") => {}
        None => {
            return Err(SandboxError::Authorize(
                "INVALID_REQUEST: Missing required parameter: response_type",
            ));
        }
        Some(_) => {
            return Err(SandboxError::Authorize(
                "INVALID_REQUEST: response_type must be code",
            ));
        }
    }
    let challenge = match (q.code_challenge_method.as_deref(), q.code_challenge) {
        (None, None) => None,
        (Some("S256"), Some(challenge)) if !challenge.is_empty() => Some(challenge),
        (Some("S256"), _) => {
            return Err(SandboxError::Authorize(
                "INVALID_REQUEST: code_challenge required",
            ));
        }
        (None, Some(_)) => {
            return Err(SandboxError::Authorize(
                "INVALID_REQUEST: code_challenge_method required",
            ));
        }
        (Some(_), _) => {
            return Err(SandboxError::Authorize(
                "INVALID_REQUEST: code_challenge_method must be S256",
            ));
        }
    };
    let user_id = q
        .sandbox_user
        .or_else(|| sandbox.default_user.clone())
        .ok_or(SandboxError::Authorize(
            "INVALID_REQUEST: no sandbox_user and no default user",
        ))?;
    let now_s = sandbox.clock.now_s();
    let state = q.state.as_deref();
    let code = {
        let mut world = sandbox.world();
        let Some(user) = world.users.get(&user_id) else {
            return Err(SandboxError::Authorize(
                "INVALID_REQUEST: unknown sandbox_user",
            ));
        };
        if user.deny {
            return Ok(redirect(redirect_uri, &[("error", "access_denied")], state));
        }
        let mut scopes: Vec<String> = match &user.scopes {
            Some(granted) => granted.clone(),
            None => q
                .scope
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        scopes.dedup();
        let redirect_str = q.redirect_uri.as_deref().unwrap_or_default();
        world
            .grants
            .issue_code(&user_id, redirect_str, scopes, challenge, now_s)
    };
    Ok(redirect(redirect_uri, &[("code", &code)], state))
}
