//! Reading a Spotify error answer: which of the broker's failure kinds it is.

use serde::Deserialize;

use super::ApiResponse;

/// What a non-success Spotify answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 401: the access token is expired or revoked.
    Unauthorized,
    /// 403 "Insufficient client scope": the user must consent again.
    ScopeMissing,
    /// 403 refusing the app for this user: not on the development-mode allowlist.
    UserNotRegistered,
    /// 403 refusing the app for everyone: the owner's Premium lapsed (an app-wide incident).
    OwnerLacksPremium,
    /// 403 with reason `PREMIUM_REQUIRED`.
    PremiumRequired,
    /// 404 with reason `NO_ACTIVE_DEVICE`.
    NoActiveDevice,
    /// Any other 403.
    Forbidden,
    /// Any other 404.
    NotFound,
    /// 400 and other 4xx, with Spotify's message.
    BadRequest(String),
    /// 429 with the seconds Spotify asked for.
    RateLimited(u64),
    /// 429 with reason `QUOTA_EXCEEDED`: the app's development-mode quota is used up.
    QuotaExceeded(u64),
    /// 5xx.
    Unavailable,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `None` for an answer that is not a failure (2xx, 304).
pub fn classify(response: &ApiResponse, default_retry_after_s: u64) -> Option<Failure> {
    let status = response.status;
    if (200..300).contains(&status) || status == 304 {
        return None;
    }
    let parsed: Option<ErrorObject> = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .map(|b| b.error);
    let message = parsed
        .as_ref()
        .map(|e| e.message.as_str())
        .unwrap_or_default();
    let reason = parsed.as_ref().and_then(|e| e.reason.as_deref());
    let text = std::str::from_utf8(&response.body).unwrap_or_default();
    Some(match status {
        401 => Failure::Unauthorized,
        403 if reason == Some("PREMIUM_REQUIRED") => Failure::PremiumRequired,
        403 if message.contains("Insufficient client scope") => Failure::ScopeMissing,
        403 if parsed.is_none() && text.contains("not registered") => Failure::UserNotRegistered,
        // Spotify sends this one as plain text ("Active premium subscription required for the owner
        // of the app. …"); a JSON message saying the same is read alike.
        403 if text.to_ascii_lowercase().contains("owner of the app") => Failure::OwnerLacksPremium,
        403 => Failure::Forbidden,
        404 if reason == Some("NO_ACTIVE_DEVICE") => Failure::NoActiveDevice,
        404 => Failure::NotFound,
        429 => {
            let seconds = response
                .retry_after
                .as_deref()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default_retry_after_s);
            if reason == Some("QUOTA_EXCEEDED") {
                Failure::QuotaExceeded(seconds)
            } else {
                Failure::RateLimited(seconds)
            }
        }
        500.. => Failure::Unavailable,
        _ => Failure::BadRequest(if message.is_empty() {
            format!("spotify answered {status}")
        } else {
            format!("spotify: {message}")
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::web::Bytes;

    fn response(status: u16, body: &str, retry_after: Option<&str>) -> ApiResponse {
        ApiResponse {
            status,
            content_type: None,
            etag: None,
            cache_control: None,
            retry_after: retry_after.map(str::to_owned),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn maps_spotify_bodies() {
        let cases = [
            (200, "{}", None),
            (304, "", None),
            (
                401,
                r#"{"error":{"status":401,"message":"The access token expired"}}"#,
                Some(Failure::Unauthorized),
            ),
            (
                403,
                r#"{"error":{"status":403,"message":"Player command failed: Premium required","reason":"PREMIUM_REQUIRED"}}"#,
                Some(Failure::PremiumRequired),
            ),
            (
                403,
                r#"{"error":{"status":403,"message":"Insufficient client scope"}}"#,
                Some(Failure::ScopeMissing),
            ),
            (
                403,
                "User not registered in the Developer Dashboard",
                Some(Failure::UserNotRegistered),
            ),
            (
                403,
                "Active premium subscription required for the owner of the app. When the \
                 subscription status changes, it can take a few hours before requests are allowed again.",
                Some(Failure::OwnerLacksPremium),
            ),
            (
                403,
                r#"{"error":{"status":403,"message":"Forbidden"}}"#,
                Some(Failure::Forbidden),
            ),
            (
                404,
                r#"{"error":{"status":404,"message":"Player command failed: No active device found","reason":"NO_ACTIVE_DEVICE"}}"#,
                Some(Failure::NoActiveDevice),
            ),
            (
                404,
                r#"{"error":{"status":404,"message":"Not found."}}"#,
                Some(Failure::NotFound),
            ),
            (502, "bad gateway", Some(Failure::Unavailable)),
            (
                400,
                r#"{"error":{"status":400,"message":"Invalid limit"}}"#,
                Some(Failure::BadRequest("spotify: Invalid limit".to_owned())),
            ),
        ];
        for (status, body, expected) in cases {
            assert_eq!(
                classify(&response(status, body, None), 5),
                expected,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn rate_limit_reads_retry_after() {
        assert_eq!(
            classify(&response(429, "", Some("7")), 5),
            Some(Failure::RateLimited(7))
        );
        assert_eq!(
            classify(&response(429, "", None), 5),
            Some(Failure::RateLimited(5))
        );
        let quota =
            r#"{"error":{"status":429,"message":"Too many requests","reason":"QUOTA_EXCEEDED"}}"#;
        assert_eq!(
            classify(&response(429, quota, Some("30")), 5),
            Some(Failure::QuotaExceeded(30))
        );
        assert_eq!(
            classify(&response(429, quota, None), 5),
            Some(Failure::QuotaExceeded(5))
        );
    }
}
