//! The Alexa Skills Kit JSON protocol: what Alexa sends, what the skill answers, and speech that is safe to send.

pub mod request;
pub mod response;
pub mod ssml;
