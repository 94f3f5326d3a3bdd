//! The size limits both services put on a request, its headers and its body, so that an oversized
//! request gets 431 or 413 with a JSON body from either service instead of actix's bare answers.

use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::web::{Bytes, BytesMut, Payload};
use actix_web::{HttpRequest, HttpResponse};
use futures::future::Either;
use futures::{StreamExt, TryFutureExt};

use crate::{ErrorBody, ErrorCode};

/// `server.max_header_bytes` when unset.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// The smallest `server.max_header_bytes` allowed (a real client's headers fit easily).
pub const MIN_MAX_HEADER_BYTES: usize = 1024;
/// The largest `server.max_header_bytes` allowed: well under the 128 KiB request head past which
/// actix-http answers a bare 431 itself, before any middleware runs.
pub const MAX_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Bytes a header line takes on the wire besides its name and value: `: ` and CRLF.
const HEADER_LINE_OVERHEAD: usize = 4;

/// A size limit that a request went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The headers together are larger than the limit (431).
    Headers { limit: usize },
    /// The body is larger than the limit (413).
    Body { limit: usize },
}

impl Exceeded {
    /// The HTTP status that says so: 431 for headers, 413 for a body.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Headers { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Body { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Headers { limit } => {
                write!(f, "the request headers are larger than {limit} bytes")
            }
            Self::Body { limit } => write!(f, "the body is larger than {limit} bytes"),
        }
    }
}

/// The size of a request's header block as sent: each header's name and value, `: ` and CRLF (the
/// request line is not counted).
pub fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + HEADER_LINE_OVERHEAD)
        .sum()
}

/// Renders a refused request; each service answers in its own error shape.
pub type Render = fn(&HttpRequest, Exceeded) -> HttpResponse;

/// The normalized answer (DESIGN.md, "Normalized errors"): `bad_request` with the limit's status.
pub fn normalized(_request: &HttpRequest, exceeded: Exceeded) -> HttpResponse {
    HttpResponse::build(exceeded.status())
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(ErrorBody::new(
            ErrorCode::BadRequest,
            exceeded.to_string(),
            None,
        ))
}

/// Middleware refusing a request whose headers total more than `max_bytes` (see [`header_bytes`])
/// with 431, before routing; requests within the limit pass untouched.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimit {
    max_bytes: usize,
    render: Render,
}

impl HeaderLimit {
    /// A limit of `max_bytes`, answered with [`normalized`].
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            render: normalized,
        }
    }

    /// The same limit answered by `render`.
    pub fn rendered_by(self, render: Render) -> Self {
        Self { render, ..self }
    }
}

impl<S, B> Transform<S, ServiceRequest> for HeaderLimit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = HeaderLimitService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(HeaderLimitService {
            service,
            limit: *self,
        }))
    }
}

/// The service [`HeaderLimit`] wraps around the application.
#[derive(Debug)]
pub struct HeaderLimitService<S> {
    service: S,
    limit: HeaderLimit,
}

/// What [`HeaderLimitService`] answers with: the application's answer, or the refusal at once.
type Answer<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;
type Passed<F, B> =
    futures::future::MapOk<F, fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>>;

impl<S, B> Service<ServiceRequest> for HeaderLimitService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<Passed<S::Future, B>, Ready<Answer<B>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let HeaderLimit { max_bytes, render } = self.limit;
        if header_bytes(request.headers()) > max_bytes {
            let response = render(request.request(), Exceeded::Headers { limit: max_bytes });
            return Either::Right(ready(Ok(request
                .into_response(response)
                .map_into_right_body())));
        }
        let pass: fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> =
            ServiceResponse::map_into_left_body;
        Either::Left(self.service.call(request).map_ok(pass))
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// It is larger than the limit (413), by its `Content-Length` or by what arrived.
    #[error("{0}")]
    TooLarge(Exceeded),
    /// The stream broke off or is not valid HTTP framing (400).
    #[error("the body could not be read")]
    Unreadable,
}

/// Reads the whole body, refusing more than `limit` bytes: at once when `Content-Length` says so, else
/// as soon as more has arrived (a chunked body has no length to check first).
pub async fn read_body(
    request: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let too_large = BodyError::TooLarge(Exceeded::Body { limit });
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| match err {
            PayloadError::Overflow => too_large,
            _ => BodyError::Unreadable,
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody as _;
    use actix_web::test::{TestRequest, call_service, init_service};
    use actix_web::{App, FromRequest, web};

    use std::pin::Pin;

    use super::*;

    fn oversized(_: &HttpRequest, exceeded: Exceeded) -> HttpResponse {
        HttpResponse::build(exceeded.status()).body(format!("own shape: {exceeded}"))
    }

    #[test]
    fn the_header_block_is_counted_as_sent() {
        let request = TestRequest::default()
            .insert_header(("x-a", "12345"))
            .insert_header(("x-b", ""))
            .to_http_request();
        assert_eq!(header_bytes(request.headers()), (3 + 5 + 4) + (3 + 4));
        let repeated = TestRequest::default()
            .append_header(("x-a", "1"))
            .append_header(("x-a", "2"))
            .to_http_request();
        assert_eq!(header_bytes(repeated.headers()), 2 * (3 + 1 + 4));
    }

    #[tokio::test]
    async fn headers_over_the_limit_get_431_and_the_normalized_body() {
        let app = init_service(
            App::new()
                .wrap(HeaderLimit::new(100))
                .route("/", web::get().to(HttpResponse::NoContent)),
        )
        .await;
        let within = TestRequest::get()
            .uri("/")
            .insert_header(("x-pad", "a".repeat(100 - 5 - 4)))
            .to_request();
        assert_eq!(call_service(&app, within).await.status(), 204);
        let over = TestRequest::get()
            .uri("/")
            .insert_header(("x-pad", "a".repeat(100 - 5 - 4 + 1)))
            .to_request();
        let response = call_service(&app, over).await;
        assert_eq!(response.status(), 431);
        let body = response.into_body().try_into_bytes().unwrap();
        let body: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error.code, ErrorCode::BadRequest);
        assert_eq!(
            body.error.message,
            "the request headers are larger than 100 bytes"
        );
    }

    #[tokio::test]
    async fn a_service_renders_the_refusal_in_its_own_shape() {
        let app = init_service(
            App::new()
                .wrap(HeaderLimit::new(10).rendered_by(oversized))
                .route("/", web::get().to(HttpResponse::NoContent)),
        )
        .await;
        let request = TestRequest::get()
            .uri("/")
            .insert_header(("x-pad", "0123456789"))
            .to_request();
        let response = call_service(&app, request).await;
        assert_eq!(response.status(), 431);
        let body = response.into_body().try_into_bytes().unwrap();
        assert_eq!(
            body,
            "own shape: the request headers are larger than 10 bytes"
        );
    }

    async fn read(
        request: TestRequest,
        chunks: Vec<&'static [u8]>,
        limit: usize,
    ) -> Result<Bytes, BodyError> {
        let (request, _) = request.to_http_parts();
        let stream = futures::stream::iter(
            chunks
                .into_iter()
                .map(|chunk| Ok::<_, PayloadError>(Bytes::from_static(chunk))),
        );
        let boxed: Pin<Box<dyn futures::Stream<Item = Result<Bytes, PayloadError>>>> =
            Box::pin(stream);
        let mut raw = actix_web::dev::Payload::from(boxed);
        let payload = Payload::from_request(&request, &mut raw).await.unwrap();
        read_body(&request, payload, limit).await
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit_and_refused_past_it() {
        let too_large = Err(BodyError::TooLarge(Exceeded::Body { limit: 4 }));
        let plain = || TestRequest::post();
        assert_eq!(read(plain(), vec![b"ab", b"cd"], 4).await.unwrap(), "abcd");
        // A chunked body has no length to check: it is refused once more has arrived.
        assert_eq!(read(plain(), vec![b"ab", b"cd", b"e"], 4).await, too_large);
        // A declared length over the limit is refused before anything is read.
        let declared = plain().insert_header((header::CONTENT_LENGTH, "5"));
        assert_eq!(read(declared, vec![], 4).await, too_large);
        let lying = plain().insert_header((header::CONTENT_LENGTH, "2"));
        assert_eq!(read(lying, vec![b"abcde"], 4).await, too_large);
        assert_eq!(
            Exceeded::Body { limit: 4 }.to_string(),
            "the body is larger than 4 bytes"
        );
        assert_eq!(Exceeded::Body { limit: 4 }.status(), 413);
    }
}
