//! The caller's time budget (`X-Request-Deadline-Ms`), turned into an instant nothing may wait past.

use std::time::Duration;

use actix_web::HttpRequest;
use broker_proto::header_names::DEADLINE as DEADLINE_HEADER;
use tokio::time::Instant;

use crate::error::ApiError;

/// Reads the budget; absent means `default`, and no budget is longer than `max`.
pub fn from_request(
    request: &HttpRequest,
    default: Duration,
    max: Duration,
) -> Result<Instant, ApiError> {
    let budget = match request.headers().get(DEADLINE_HEADER) {
        None => default,
        Some(value) => {
            let ms: u64 = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "X-Request-Deadline-Ms must be whole milliseconds".to_owned(),
                    )
                })?;
            Duration::from_millis(ms)
        }
    };
    Ok(Instant::now() + budget.min(max))
}
