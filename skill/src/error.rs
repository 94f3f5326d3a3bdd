//! The skill's HTTP-level errors and the fixed bodies they render.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use broker_proto::limits::{BodyError, Exceeded};

use crate::verify::VerifyError;

/// What can go wrong answering a request before there is an Alexa answer to give.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    /// 400 with the verification code: the request is not provably from Alexa for this skill.
    #[error("request verification failed")]
    Verification(#[from] VerifyError),
    /// 400 `malformed_request`: the body is not an Alexa request.
    #[error("malformed alexa request: {0}")]
    MalformedRequest(String),
    /// 413 (the body) or 431 (the headers) `bad_request`: the request is over a size limit.
    #[error("{0}")]
    TooLarge(Exceeded),
    /// 400 `bad_request`: the body could not be read (broken framing, the client went away).
    #[error("the body could not be read")]
    UnreadableBody,
    /// 404 `not_found`: a path the skill does not serve.
    #[error("not found")]
    NotFound,
    /// 405 `method_not_allowed` with `Allow`: a path the skill serves, with another method.
    #[error("method not allowed")]
    MethodNotAllowed(Method),
    /// 503 `retry_later`: a skill event could not be handled now; Alexa redelivers it.
    #[error("skill event not handled, asking for redelivery")]
    Redeliver,
    /// 500 `internal`: anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<BodyError> for SkillError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge(exceeded) => Self::TooLarge(exceeded),
            BodyError::Unreadable => Self::UnreadableBody,
        }
    }
}

impl SkillError {
    fn code(&self) -> &'static str {
        match self {
            Self::Verification(e) => e.code(),
            Self::MalformedRequest(_) => "malformed_request",
            Self::TooLarge(_) | Self::UnreadableBody => "bad_request",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Redeliver => "retry_later",
            Self::Unexpected(_) => "internal",
        }
    }

    fn public_message(&self) -> String {
        match self {
            Self::Verification(_) => {
                "the request could not be verified as coming from Alexa".into()
            }
            Self::MalformedRequest(_) => "the body is not an Alexa request".into(),
            Self::TooLarge(exceeded) => exceeded.to_string(),
            Self::UnreadableBody => "the body could not be read".into(),
            Self::NotFound => "the skill serves POST /alexa, GET /healthz and GET /metrics".into(),
            Self::MethodNotAllowed(allow) => format!("this path answers {allow} only"),
            Self::Redeliver => "try again later".into(),
            Self::Unexpected(_) => "internal error".into(),
        }
    }

    /// Answers a request over a size limit (the header limit's renderer, see `startup`).
    pub fn refuse_oversized(_request: &HttpRequest, exceeded: Exceeded) -> HttpResponse {
        Self::TooLarge(exceeded).error_response()
    }
}

impl ResponseError for SkillError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Verification(_) | Self::MalformedRequest(_) | Self::UnreadableBody => {
                StatusCode::BAD_REQUEST
            }
            Self::TooLarge(exceeded) => exceeded.status(),
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Redeliver => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Self::MethodNotAllowed(allow) = self {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        response.json(serde_json::json!({
            "error": {"code": self.code(), "message": self.public_message()}
        }))
    }
}
