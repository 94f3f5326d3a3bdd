//! `bench-upstream`: the one upstream every target of `scripts/bench` sits in front of, and the bare
//! actix-web handler they are compared with. It answers the same 1 KiB of JSON to every `GET /v1/...`.

use std::net::SocketAddr;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use clap::Parser;

/// Serves 1 KiB of JSON on `GET /v1/{anything}` (any query, any bearer) for the side-by-side benchmark.
#[derive(Debug, Parser)]
#[command(name = "bench-upstream", version)]
struct Args {
    /// Address to listen on (a loopback address).
    #[arg(long, default_value = "127.0.0.1:8091")]
    bind: SocketAddr,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

/// The body's size in bytes, padding included.
const BODY_LEN: usize = 1024;

/// One JSON object that reads as a Spotify user (`id`, for linking) and as a playing track (for the
/// skill), padded with a `padding` string to exactly [`BODY_LEN`] bytes.
fn body() -> Bytes {
    let head = r#"{"id":"bench-user","display_name":"Bench User","product":"premium","is_playing":true,"currently_playing_type":"track","item":{"type":"track","name":"Upstream Song","artists":[{"name":"The Benchmarks"}]},"padding":""#;
    let tail = "\"}";
    let fill = BODY_LEN.saturating_sub(head.len() + tail.len());
    let mut text = String::with_capacity(BODY_LEN);
    text.push_str(head);
    text.extend(std::iter::repeat_n('x', fill));
    text.push_str(tail);
    Bytes::from(text)
}

async fn answer(body: web::Data<Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "private, max-age=0"))
        .body(body.get_ref().clone())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    if !args.bind.ip().is_loopback() {
        return Err(std::io::Error::other("--bind must be a loopback address"));
    }
    let body = web::Data::new(body());
    HttpServer::new(move || {
        App::new()
            .app_data(body.clone())
            .route("/v1/{tail:.*}", web::get().to(answer))
    })
    .workers(args.workers.clamp(1, 64))
    .bind(args.bind)?
    .run()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_one_kib_of_json_a_profile_and_a_track_can_read() {
        let body = body();
        assert_eq!(body.len(), BODY_LEN);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["id"], "bench-user");
        assert_eq!(json["item"]["name"], "Upstream Song");
    }
}
