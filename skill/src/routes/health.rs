//! `GET /healthz`: the process is up and serving.

use actix_web::HttpResponse;

/// Always 200 while the server runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}
