//! `POST /alexa`: verify the request, answer it within the time budget, render the Alexa response.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use broker_proto::limits::read_body;

use crate::alexa::request::{Request, RequestEnvelope};
use crate::conversation::{Reply, speech};
use crate::deadline::Deadline;
use crate::error::SkillError;
use crate::startup::AppState;
use crate::telemetry::metrics::{self, Outcome};
use crate::verify::SignatureHeaders;

/// Time kept back from the budget for rendering and sending the answer.
const RENDER_MARGIN: Duration = Duration::from_millis(50);
/// Time kept back from the answer deadline so the broker's answer arrives before the skill gives up.
const BROKER_MARGIN: Duration = Duration::from_millis(100);

/// Alexa requests are small; a body larger than this is refused with 413.
pub const MAX_BODY_BYTES: usize = 128 * 1024;

/// The Alexa endpoint, counted in the metrics.
#[tracing::instrument(name = "alexa", skip_all)]
pub async fn alexa(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SkillError> {
    let started = std::time::Instant::now();
    let mut kind = "unverified".to_owned();
    let (answer, outcome) = match read_body(&request, payload, MAX_BODY_BYTES).await {
        Ok(body) => answer(&request, &body, &state, &mut kind).await,
        Err(error) => {
            tracing::warn!(error = %error, "refused a request whose body could not be read");
            (Err(error.into()), Outcome::Malformed)
        }
    };
    metrics::request(kind, outcome, started.elapsed());
    answer
}

/// Verifies, reads and answers one request; names its kind once the body can be trusted.
async fn answer(
    request: &HttpRequest,
    body: &web::Bytes,
    state: &AppState,
    kind: &mut String,
) -> (Result<HttpResponse, SkillError>, Outcome) {
    let deadline = Deadline::after(state.time_budget);
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let headers = SignatureHeaders {
        cert_chain_url: header("SignatureCertChainUrl"),
        signature_256: header("Signature-256"),
    };
    if let Err(error) = state.verifier.verify(headers, body).await {
        tracing::warn!(code = error.code(), error = %error, "refused an unverified request");
        metrics::verification_refused(error.code());
        return (Err(error.into()), Outcome::Refused);
    }
    let envelope: RequestEnvelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(e) => {
            tracing::warn!(error = %e, "refused a malformed request");
            return (
                Err(SkillError::MalformedRequest(e.to_string())),
                Outcome::Malformed,
            );
        }
    };
    *kind = metrics::request_kind(&envelope.request);

    let answer_by = deadline.earlier_by(RENDER_MARGIN);
    let work = state
        .conversation
        .respond(&envelope, answer_by.earlier_by(BROKER_MARGIN));
    let (reply, outcome) = match tokio::time::timeout_at(answer_by.instant(), work).await {
        Ok(reply) => (reply, None),
        Err(_) => {
            tracing::warn!("time budget spent; answering try again");
            if is_skill_event(&envelope.request) {
                (Reply::Redeliver, None)
            } else {
                let locale = crate::i18n::Locale::from_tag(envelope.locale());
                (
                    Reply::Answer(speech::too_slow(&crate::i18n::Messages::new(locale))),
                    Some(Outcome::TooSlow),
                )
            }
        }
    };
    match reply {
        Reply::Answer(answer) => {
            let outcome = outcome.unwrap_or(if answer.asks_to_link() {
                Outcome::LinkAccount
            } else {
                Outcome::Answered
            });
            let response = HttpResponse::Ok()
                .content_type("application/json;charset=UTF-8")
                .json(answer.render());
            (Ok(response), outcome)
        }
        Reply::Redeliver => (Err(SkillError::Redeliver), Outcome::Redeliver),
    }
}

fn is_skill_event(request: &Request) -> bool {
    matches!(
        request,
        Request::SkillDisabled(_) | Request::SkillAccountLinked(_) | Request::SkillEnabled(_)
    )
}
