//! `/v1/spotify/{path}`: parses the skill's call, hands it to the proxy service and renders its answer
//! (or its normalized error) with `X-Broker-Cache`.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use broker_proto::header_names::CACHE as CACHE_HEADER;

use super::deadline;
use crate::credentials;
use crate::error::ApiError;
use crate::proxy::{Answer, Endpoint, ProxyCall};
use crate::spotify::ApiRequest;
use crate::state::SharedState;

pub const PREFIX: &str = "/v1/spotify";
/// The proxy's route label in the access line and the metrics.
pub const ROUTE: &str = "/v1/spotify/{path}";

/// The handler behind every `/v1/*` path that is not link status.
pub async fn forward(
    request: HttpRequest,
    payload: web::Payload,
    state: SharedState,
) -> Result<HttpResponse, ApiError> {
    credentials::require_service(&request, &state.service_tokens)?;
    let path = request
        .path()
        .strip_prefix(PREFIX)
        .ok_or(ApiError::NotFound)?;
    let endpoint = Endpoint::resolve(request.method(), path).ok_or(ApiError::NotFound)?;
    let settings = state.proxy.settings();
    let deadline =
        deadline::from_request(&request, settings.default_deadline, settings.max_deadline)?;
    let user = credentials::alexa_user(&request)?;
    let access = state
        .linked
        .authenticate(&credentials::bearer(&request)?, user.as_ref())
        .await?;
    state.linked.active_link(&access).await?;
    let path_and_query = match request.query_string() {
        "" => path.to_owned(),
        query => [path, "?", query].concat(),
    };
    let body = if request.method() == Method::GET {
        None
    } else {
        let body = broker_proto::limits::read_body(&request, payload, state.max_body_bytes).await?;
        (!body.is_empty()).then_some(body)
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let call = ProxyCall {
        access,
        endpoint,
        request: ApiRequest {
            method: reqwest::Method::from_bytes(request.method().as_str().as_bytes())
                .map_err(|_| ApiError::NotFound)?,
            path_and_query,
            body,
            content_type,
            if_none_match: None,
        },
        deadline,
    };
    Ok(match state.proxy.forward(call).await {
        Ok(answer) => render(&answer),
        Err(err) => render_error(&err),
    })
}

fn render(answer: &Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    response
        .insert_header((
            CACHE_HEADER,
            header::HeaderValue::from_static(answer.source().as_str()),
        ))
        .insert_header((
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        ));
    if status == StatusCode::NO_CONTENT || answer.body().is_empty() {
        return response.finish();
    }
    if let Some(content_type) = answer.content_type() {
        response.insert_header((header::CONTENT_TYPE, content_type));
    }
    response.body(answer.body().clone())
}

fn render_error(err: &ApiError) -> HttpResponse {
    let mut response = err.error_response();
    response
        .headers_mut()
        .insert(CACHE_HEADER, header::HeaderValue::from_static("miss"));
    response
}
