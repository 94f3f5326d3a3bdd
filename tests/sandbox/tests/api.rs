//! Sandbox integration tests over real HTTP: one binary, modules under `api/`.

#[cfg(test)]
mod api {
    pub mod faults;
    pub mod helpers;
    pub mod oauth;
    pub mod openapi;
    pub mod spotify2026;
    pub mod web_api;
}
