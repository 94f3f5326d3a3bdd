//! Spotify for a linked user: the allowlist, the response cache, the app-wide pauses and the service
//! that puts them together. No HTTP handling lives here; `api/` parses requests and renders answers.

mod allowlist;
mod cache;
mod cooldown;
mod service;

pub use allowlist::{CachePolicy, Endpoint};
pub use cache::{CacheSettings, ResponseCache};
pub use cooldown::{Admission, Cooldown, PauseKind};
pub use service::{Answer, Fetched, Proxy, ProxyCall, ProxySettings, Source};
