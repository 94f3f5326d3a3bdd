//! A fake broker serving the broker's contract (`/v1/link`, `/v1/link/revoke`, `/v1/spotify/*`) from
//! canned answers, recording every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use broker_proto::{
    ALEXA_USER_ID_HEADER, CACHE_HEADER, DEADLINE_HEADER, ErrorBody, ErrorCode, LinkState,
    LinkStatusBody, SERVICE_TOKEN_HEADER,
};
use serde_json::{Value, json};

pub const SERVICE_TOKEN: &str = "svc_test_token";
pub const USER_TOKEN: &str = "bat_test_user";

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub deadline_ms: Option<u64>,
    pub body: String,
    /// `X-Alexa-User-Id`, as received.
    pub user_id: Option<String>,
    /// `Authorization`, as received.
    pub authorization: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Canned {
    Json(u16, Value),
    NoContent,
    Error(ErrorCode, Option<u64>),
    /// A JSON body sent byte for byte (for bodies a `Value` cannot hold, such as lone surrogates).
    Raw(u16, &'static str),
}

#[derive(Debug, Default)]
pub struct State {
    pub link: Option<LinkStatusBody>,
    pub link_error: Option<Canned>,
    pub revoke: Option<Canned>,
    pub spotify: HashMap<(String, String), Canned>,
    pub delay: Option<Duration>,
    pub calls: Vec<Call>,
}

#[derive(Clone)]
pub struct FakeBroker {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

fn error(code: ErrorCode, retry: Option<u64>) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(code.http_status()).unwrap())
        .json(ErrorBody::new(code, code.as_str(), retry))
}

fn render(canned: &Canned) -> HttpResponse {
    match canned {
        Canned::Json(status, body) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(*status).unwrap())
                .insert_header((CACHE_HEADER, "miss"))
                .json(body)
        }
        Canned::NoContent => HttpResponse::NoContent()
            .insert_header((CACHE_HEADER, "miss"))
            .finish(),
        Canned::Error(code, retry) => error(*code, *retry),
        Canned::Raw(status, body) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(*status).unwrap())
                .insert_header((CACHE_HEADER, "miss"))
                .content_type("application/json")
                .body(*body)
        }
    }
}

async fn handle(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let headers = request.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = text("authorization");
    let authorized = authorization.as_deref() == Some(&format!("Bearer {USER_TOKEN}"));
    let service = text(SERVICE_TOKEN_HEADER).as_deref() == Some(SERVICE_TOKEN);
    let user_id = text(ALEXA_USER_ID_HEADER);
    let deadline_ms = text(DEADLINE_HEADER).and_then(|v| v.parse().ok());
    let path = request.path().to_owned();
    let method = request.method().to_string();
    let delay = {
        let mut state = state.lock().unwrap();
        state.calls.push(Call {
            method: method.clone(),
            path: path.clone(),
            query: request.query_string().to_owned(),
            deadline_ms,
            body: String::from_utf8_lossy(&body).into_owned(),
            user_id: user_id.clone(),
            authorization: authorization.clone(),
        });
        state.delay
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if !service {
        return error(ErrorCode::ServiceUnauthorized, None);
    }
    let state = state.lock().unwrap();
    // Like the broker, revoke finds the link by the user id when no token comes with it.
    let revoke_by_user = method == "POST"
        && path == "/v1/link/revoke"
        && authorization.is_none()
        && user_id.is_some();
    if !authorized && !revoke_by_user {
        return error(ErrorCode::RelinkRequired, None);
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/v1/link") => match (&state.link_error, &state.link) {
            (Some(canned), _) => render(canned),
            (None, Some(link)) => HttpResponse::Ok().json(link),
            (None, None) => error(ErrorCode::RelinkRequired, None),
        },
        ("POST", "/v1/link/revoke") => render(state.revoke.as_ref().unwrap_or(&Canned::NoContent)),
        (_, spotify) if spotify.starts_with("/v1/spotify/") => {
            let key = (
                method.clone(),
                spotify.trim_start_matches("/v1/spotify").to_owned(),
            );
            match state.spotify.get(&key) {
                Some(canned) => render(canned),
                None => error(ErrorCode::NotFound, None),
            }
        }
        _ => error(ErrorCode::NotFound, None),
    }
}

impl FakeBroker {
    pub async fn spawn() -> Self {
        let state = Arc::new(Mutex::new(State {
            link: Some(link_json(
                chrono::Utc::now() + chrono::Duration::days(120),
                Some("Test Listener"),
            )),
            ..State::default()
        }));
        let data = web::Data::new(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, state }
    }

    pub fn set(&self, method: &str, path: &str, canned: Canned) {
        self.state
            .lock()
            .unwrap()
            .spotify
            .insert((method.to_owned(), path.to_owned()), canned);
    }

    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn calls_to(&self, method: &str, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.path == path)
            .collect()
    }
}

pub fn link_json(
    relink_due_at: chrono::DateTime<chrono::Utc>,
    name: Option<&str>,
) -> LinkStatusBody {
    LinkStatusBody {
        link_id: "0b7c6a9e-link".into(),
        status: LinkState::Active,
        display_name: name.map(str::to_owned),
        authorized_at: (relink_due_at - chrono::Duration::days(183)).to_rfc3339(),
        relink_due_at: relink_due_at.to_rfc3339(),
    }
}

pub fn playlists_json(names: &[&str]) -> Value {
    let items: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"id": format!("pl{i}"), "name": n, "uri": format!("spotify:playlist:pl{i}"), "owner": {"id": "me"}}))
        .collect();
    json!({"items": items, "total": names.len(), "next": null, "limit": 50, "offset": 0})
}
