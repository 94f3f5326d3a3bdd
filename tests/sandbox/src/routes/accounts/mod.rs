//! Spotify's accounts service: consent and the token endpoint.

pub mod authorize;
pub mod token;
