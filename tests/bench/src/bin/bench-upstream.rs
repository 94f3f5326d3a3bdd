//! `bench-upstream`: the one upstream every target of `scripts/bench` sits in front of, and the bare
//! actix-web handler they are compared with. It answers the same 1 KiB of JSON to every `GET /v1/...`,
//! but for `GET /v1/me` with another bearer than the benchmark's own, which reads as a profile of that
//! token's user: so that every link the benchmark makes is a user of its own.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use clap::Parser;

/// Serves 1 KiB of JSON on `GET /v1/{anything}` (any query; `/v1/me` reads the bearer) for the side-by-side
/// benchmark.
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

/// The bearer the benchmark's own targets send (`BENCH_TOKEN` in `scripts/bench`).
const BENCH_BEARER: &str = "Bearer spotify-token";

/// One JSON object that reads as a Spotify user (`id`, for linking) and as a playing track (for the
/// skill), padded with a `padding` string to exactly [`BODY_LEN`] bytes.
fn body() -> Bytes {
    body_of("bench-user")
}

fn body_of(user_id: &str) -> Bytes {
    let head = format!(
        r#"{{"id":"{user_id}","display_name":"Bench User","product":"premium","is_playing":true,"currently_playing_type":"track","item":{{"type":"track","name":"Upstream Song","artists":[{{"name":"The Benchmarks"}}]}},"padding":""#
    );
    let tail = "\"}";
    let fill = BODY_LEN.saturating_sub(head.len() + tail.len());
    let mut text = String::with_capacity(BODY_LEN);
    text.push_str(&head);
    text.extend(std::iter::repeat_n('x', fill));
    text.push_str(tail);
    Bytes::from(text)
}

async fn answer(body: web::Data<Bytes>) -> HttpResponse {
    json(body.get_ref().clone())
}

/// `GET /v1/me`: the common body for the benchmark's bearer (the bare target), else a profile whose id
/// is derived from the bearer, one user per Spotify token (the links the broker makes).
async fn profile(request: HttpRequest, body: web::Data<Bytes>) -> HttpResponse {
    match request.headers().get(AUTHORIZATION) {
        Some(bearer) if bearer.as_bytes() != BENCH_BEARER.as_bytes() => {
            let mut hasher = DefaultHasher::new();
            bearer.as_bytes().hash(&mut hasher);
            json(body_of(&format!("bench{:016x}", hasher.finish())))
        }
        _ => json(body.get_ref().clone()),
    }
}

fn json(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "private, max-age=0"))
        .body(body)
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
            .route("/v1/me", web::get().to(profile))
            .route("/v1/{tail:.*}", web::get().to(answer))
    })
    .on_connect(spotify_sandbox::send_at_once)
    .workers(args.workers.clamp(1, 64))
    // HTTP/1.1 and, to a client that starts with HTTP/2's preface, HTTP/2 (h2c): nginx and the broker at
    // its defaults speak the one, the broker told `spotify.http_version = "http2"` the other.
    .bind_auto_h2c(args.bind)?
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

    #[actix_web::test]
    async fn each_spotify_token_reads_as_a_user_of_its_own() {
        let app = actix_web::test::init_service(
            App::new()
                .app_data(web::Data::new(body()))
                .route("/v1/me", web::get().to(profile)),
        )
        .await;
        let mut ids = Vec::new();
        for bearer in [BENCH_BEARER, "Bearer one", "Bearer two", "Bearer one"] {
            let request = actix_web::test::TestRequest::get()
                .uri("/v1/me")
                .insert_header((AUTHORIZATION, bearer))
                .to_request();
            let answer = actix_web::test::call_and_read_body(&app, request).await;
            assert_eq!(answer.len(), BODY_LEN);
            let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            ids.push(json["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            ids[0], "bench-user",
            "the bare target's bytes are the common body"
        );
        assert_ne!(ids[1], ids[2]);
        assert_eq!(ids[1], ids[3]);
    }
}
