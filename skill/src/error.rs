//! The skill's HTTP-level errors and the fixed bodies they render.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::verify::VerifyError;

/// What can go wrong answering `POST /alexa` before there is an Alexa answer to give.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    /// 400 with the verification code: the request is not provably from Alexa for this skill.
    #[error("request verification failed")]
    Verification(#[from] VerifyError),
    /// 400 `malformed_request`: the body is not an Alexa request.
    #[error("malformed alexa request: {0}")]
    MalformedRequest(String),
    /// 503 `retry_later`: a skill event could not be handled now; Alexa redelivers it.
    #[error("skill event not handled, asking for redelivery")]
    Redeliver,
    /// 500 `internal`: anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl SkillError {
    fn code(&self) -> &'static str {
        match self {
            Self::Verification(e) => e.code(),
            Self::MalformedRequest(_) => "malformed_request",
            Self::Redeliver => "retry_later",
            Self::Unexpected(_) => "internal",
        }
    }

    fn public_message(&self) -> &'static str {
        match self {
            Self::Verification(_) => "the request could not be verified as coming from Alexa",
            Self::MalformedRequest(_) => "the body is not an Alexa request",
            Self::Redeliver => "try again later",
            Self::Unexpected(_) => "internal error",
        }
    }
}

impl ResponseError for SkillError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Verification(_) | Self::MalformedRequest(_) => StatusCode::BAD_REQUEST,
            Self::Redeliver => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(serde_json::json!({
            "error": {"code": self.code(), "message": self.public_message()}
        }))
    }
}
