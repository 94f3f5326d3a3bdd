//! `GET /metrics`: the skill's metrics in Prometheus text format.

use actix_web::HttpResponse;

/// Every metric family (503 `unavailable` when another recorder took the process's metrics).
pub async fn metrics() -> HttpResponse {
    match broker_proto::metrics::recorder() {
        Some(recorder) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(recorder.render()),
        None => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "error": {"code": "unavailable", "message": "metrics are not recorded by this process"}
        })),
    }
}
