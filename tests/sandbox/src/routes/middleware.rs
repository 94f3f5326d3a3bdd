//! Around every non-control call: added latency, counting, fault injection and Spotify's `Cache-Control`.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{StatusCode, Version};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::routes::fault;
use crate::state::Sandbox;

/// Control calls pass untouched; the others are delayed, counted, maybe faulted, and marked `private, max-age=0`.
pub async fn layer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let path = req.path();
    let Some(sandbox) = req.app_data::<web::Data<Sandbox>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if path == "/sandbox" || path.starts_with("/sandbox/") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    if path != "/api/token" && path != "/authorize" {
        sandbox
            .counters
            .api_arrival(req.version() == Version::HTTP_2);
    }
    let latency = sandbox.faults.latency_ms();
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let path = req.path();
    let is_accounts = path == "/api/token" || path == "/authorize";
    if path == "/authorize" {
        sandbox.counters.authorize_call();
    }
    if !is_accounts {
        let conditional = req.headers().contains_key(header::IF_NONE_MATCH);
        sandbox
            .counters
            .api_call(req.method().as_str(), path, conditional);
        if let Some(kind) = sandbox.faults.take(path, false) {
            let mut response = fault::response(kind);
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=0"),
            );
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    let mut response = next.call(req).await?;
    if !is_accounts {
        if response.status() == StatusCode::NOT_MODIFIED {
            sandbox.counters.not_modified();
        }
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=0"),
        );
    }
    Ok(response.map_into_left_body())
}
