//! HTTP routes: parse, call the domain, render.

pub mod alexa;
pub mod health;
pub mod metrics;

pub use alexa::alexa;
pub use health::healthz;
pub use metrics::metrics;
