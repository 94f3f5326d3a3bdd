//! Validated identifiers and secrets that cross the skill's edges (configuration and Alexa requests).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Why a value was refused at the edge.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidIdentifier {
    /// The value was empty or only whitespace.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// The value contained whitespace or control characters.
    #[error("{0} contains whitespace or control characters")]
    BadCharacters(&'static str),
    /// The value was longer than anything legitimate.
    #[error("{0} is too long")]
    TooLong(&'static str),
}

fn check_token_like(what: &'static str, value: &str, max: usize) -> Result<(), InvalidIdentifier> {
    if value.is_empty() {
        return Err(InvalidIdentifier::Empty(what));
    }
    if value.len() > max {
        return Err(InvalidIdentifier::TooLong(what));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidIdentifier::BadCharacters(what));
    }
    Ok(())
}

/// The Alexa application id this skill answers for (`amzn1.ask.skill.…`).
#[derive(Clone, PartialEq, Eq)]
pub struct SkillId(String);

impl SkillId {
    /// Accepts any non-empty id without whitespace.
    pub fn parse(value: &str) -> Result<Self, InvalidIdentifier> {
        check_token_like("skill id", value, 256)?;
        Ok(Self(value.to_owned()))
    }

    /// The id as Alexa sends it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SkillId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SkillId({})", self.0)
    }
}

impl fmt::Display for SkillId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Alexa's id for a user of this skill (`amzn1.ask.account.…`); safe to log.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Accepts any non-empty id without whitespace.
    pub fn parse(value: &str) -> Result<Self, InvalidIdentifier> {
        check_token_like("user id", value, 1024)?;
        Ok(Self(value.to_owned()))
    }

    /// The id as Alexa sends it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The user's linked token (a broker access token) as Alexa hands it to the skill.
pub struct AlexaAccessToken(SecretString);

impl AlexaAccessToken {
    /// Accepts a token that can travel in an `Authorization` header.
    pub fn parse(value: &str) -> Result<Self, InvalidIdentifier> {
        check_token_like("access token", value, 4096)?;
        if !value.is_ascii() {
            return Err(InvalidIdentifier::BadCharacters("access token"));
        }
        Ok(Self(SecretString::from(value.to_owned())))
    }

    /// The token, for the one place that sends it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AlexaAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlexaAccessToken([redacted])")
    }
}

/// The skill's own credential at the broker (`X-Service-Token`).
#[derive(Clone)]
pub struct ServiceToken(SecretString);

impl ServiceToken {
    /// Accepts a token that can travel in a header.
    pub fn parse(value: &str) -> Result<Self, InvalidIdentifier> {
        check_token_like("service token", value, 4096)?;
        if !value.is_ascii() {
            return Err(InvalidIdentifier::BadCharacters("service token"));
        }
        Ok(Self(SecretString::from(value.to_owned())))
    }

    /// The token, for the one place that sends it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted_in_debug() {
        let token = AlexaAccessToken::parse("bat_secret").unwrap();
        assert!(!format!("{token:?}").contains("bat_secret"));
        let service = ServiceToken::parse("svc_secret").unwrap();
        assert!(!format!("{service:?}").contains("svc_secret"));
    }

    #[test]
    fn refuses_empty_and_spaced_values() {
        assert_eq!(
            SkillId::parse(""),
            Err(InvalidIdentifier::Empty("skill id"))
        );
        assert!(SkillId::parse("a b").is_err());
        assert!(AlexaAccessToken::parse("bat_\n").is_err());
        assert!(UserId::parse("amzn1.ask.account.X").is_ok());
    }
}
