//! Consents and the credentials issued from them: authorization codes, refresh tokens and access tokens.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::SandboxError;
use crate::ids;
use crate::seed::RefreshMode;

/// Lifetime of an access token, in seconds (Spotify's `expires_in`).
pub const ACCESS_TOKEN_TTL_S: i64 = 3600;
/// Lifetime of an authorization code, in seconds.
pub const CODE_TTL_S: i64 = 600;
/// Absolute lifetime of a refresh token after the consent that created it: six months (183 days).
pub const REFRESH_TOKEN_LIFETIME_S: i64 = 183 * 24 * 3600;

/// Once the access-token table is this big, tokens long expired are dropped.
const PRUNE_THRESHOLD: usize = 10_000;

/// How the caller of `/api/token` authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Client id and correct secret.
    Confidential,
    /// Client id only (a PKCE public client).
    Public,
}

/// A code issued by `/authorize`, waiting to be exchanged.
#[derive(Debug)]
struct AuthCode {
    user: String,
    redirect_uri: String,
    scopes: Vec<String>,
    challenge: Option<String>,
    issued_s: i64,
}

/// One consent of a user.
#[derive(Debug)]
struct Grant {
    user: String,
    scopes: Vec<String>,
    consented_s: i64,
    pkce: bool,
    revoked: bool,
}

#[derive(Debug)]
struct RefreshToken {
    grant: u64,
    rotated: bool,
}

#[derive(Debug)]
struct AccessToken {
    grant: u64,
    expires_s: i64,
}

/// What `/api/token` answers on success.
#[derive(Debug)]
pub struct Issued {
    /// New access token.
    pub access_token: String,
    /// Space-separated scopes of the grant.
    pub scope: String,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    /// Refresh token, when one is issued.
    pub refresh_token: Option<String>,
}

/// A valid access token's grant, as the Web API sees it.
#[derive(Debug)]
pub struct Caller<'a> {
    /// The user the token acts for.
    pub user: &'a str,
    /// The scopes granted.
    pub scopes: &'a [String],
}

/// All consents and credentials of the sandbox.
#[derive(Debug, Default)]
pub struct Grants {
    codes: HashMap<String, AuthCode>,
    grants: HashMap<u64, Grant>,
    refresh: HashMap<String, RefreshToken>,
    access: HashMap<String, AccessToken>,
    next_grant: u64,
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Grants {
    /// Issues an authorization code for a consent of `user`.
    pub fn issue_code(
        &mut self,
        user: &str,
        redirect_uri: &str,
        scopes: Vec<String>,
        challenge: Option<String>,
        now_s: i64,
    ) -> String {
        if self.codes.len() >= PRUNE_THRESHOLD {
            self.codes.retain(|_, c| now_s - c.issued_s <= CODE_TTL_S);
        }
        let code = ids::token("AQ", 160);
        self.codes.insert(
            code.clone(),
            AuthCode {
                user: user.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                scopes,
                challenge,
                issued_s: now_s,
            },
        );
        code
    }

    /// `grant_type=authorization_code`: consumes the code and issues an access and a refresh token.
    pub fn exchange_code(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        auth: ClientAuth,
        now_s: i64,
    ) -> Result<Issued, SandboxError> {
        let code = self
            .codes
            .remove(code)
            .ok_or_else(|| SandboxError::oauth("invalid_grant", "Invalid authorization code"))?;
        if now_s - code.issued_s > CODE_TTL_S {
            return Err(SandboxError::oauth(
                "invalid_grant",
                "Authorization code expired",
            ));
        }
        if redirect_uri != Some(code.redirect_uri.as_str()) {
            return Err(SandboxError::oauth("invalid_grant", "Invalid redirect URI"));
        }
        match (&code.challenge, verifier) {
            (Some(_), None) => {
                return Err(SandboxError::oauth(
                    "invalid_request",
                    "code_verifier required",
                ));
            }
            (Some(challenge), Some(verifier)) if s256(verifier) != *challenge => {
                return Err(SandboxError::oauth(
                    "invalid_grant",
                    "code_verifier was incorrect",
                ));
            }
            (None, _) if auth == ClientAuth::Public => {
                return Err(SandboxError::oauth("invalid_client", "Invalid client"));
            }
            _ => {}
        }
        let grant_id = self.next_grant;
        self.next_grant += 1;
        let scope = code.scopes.join(" ");
        self.grants.insert(
            grant_id,
            Grant {
                user: code.user,
                scopes: code.scopes,
                consented_s: now_s,
                pkce: code.challenge.is_some(),
                revoked: false,
            },
        );
        let refresh_token = ids::token("AQ", 128);
        self.refresh.insert(
            refresh_token.clone(),
            RefreshToken {
                grant: grant_id,
                rotated: false,
            },
        );
        Ok(Issued {
            access_token: self.issue_access(grant_id, now_s),
            scope,
            expires_in: ACCESS_TOKEN_TTL_S,
            refresh_token: Some(refresh_token),
        })
    }

    /// `grant_type=refresh_token`; `mode_of` tells the refresh mode of the grant's user.
    pub fn refresh(
        &mut self,
        token: &str,
        auth: ClientAuth,
        mode_of: impl FnOnce(&str) -> RefreshMode,
        now_s: i64,
    ) -> Result<Issued, SandboxError> {
        let record = self
            .refresh
            .get(token)
            .ok_or_else(|| SandboxError::oauth("invalid_grant", "Invalid refresh token"))?;
        if record.rotated {
            return Err(SandboxError::oauth(
                "invalid_grant",
                "Invalid refresh token",
            ));
        }
        let grant_id = record.grant;
        let grant = self
            .grants
            .get(&grant_id)
            .ok_or_else(|| SandboxError::oauth("invalid_grant", "Invalid refresh token"))?;
        if grant.revoked || now_s - grant.consented_s >= REFRESH_TOKEN_LIFETIME_S {
            return Err(SandboxError::oauth(
                "invalid_grant",
                "Refresh token revoked",
            ));
        }
        if auth == ClientAuth::Public && !grant.pkce {
            return Err(SandboxError::oauth("invalid_client", "Invalid client"));
        }
        let scope = grant.scopes.join(" ");
        let refresh_token = match mode_of(&grant.user) {
            RefreshMode::Reusable => None,
            RefreshMode::Rotate => {
                if let Some(old) = self.refresh.get_mut(token) {
                    old.rotated = true;
                }
                let new = ids::token("AQ", 128);
                self.refresh.insert(
                    new.clone(),
                    RefreshToken {
                        grant: grant_id,
                        rotated: false,
                    },
                );
                Some(new)
            }
        };
        Ok(Issued {
            access_token: self.issue_access(grant_id, now_s),
            scope,
            expires_in: ACCESS_TOKEN_TTL_S,
            refresh_token,
        })
    }

    fn issue_access(&mut self, grant: u64, now_s: i64) -> String {
        if self.access.len() >= PRUNE_THRESHOLD {
            self.access.retain(|_, a| now_s - a.expires_s < 86_400);
        }
        let token = ids::token("BQ", 160);
        self.access.insert(
            token.clone(),
            AccessToken {
                grant,
                expires_s: now_s + ACCESS_TOKEN_TTL_S,
            },
        );
        token
    }

    /// Resolves a bearer token to its user and scopes, or the 401 Spotify would answer.
    pub fn authenticate(&self, token: &str, now_s: i64) -> Result<Caller<'_>, SandboxError> {
        let invalid = || SandboxError::unauthorized("Invalid access token");
        let access = self.access.get(token).ok_or_else(invalid)?;
        let grant = self.grants.get(&access.grant).ok_or_else(invalid)?;
        if grant.revoked {
            return Err(invalid());
        }
        if now_s >= access.expires_s {
            return Err(SandboxError::unauthorized("The access token expired"));
        }
        Ok(Caller {
            user: &grant.user,
            scopes: &grant.scopes,
        })
    }

    /// Revokes every grant of `user`: its refresh tokens answer "Refresh token revoked", its access tokens 401.
    pub fn revoke_user(&mut self, user: &str) -> usize {
        let mut revoked = 0;
        for grant in self
            .grants
            .values_mut()
            .filter(|g| g.user == user && !g.revoked)
        {
            grant.revoked = true;
            revoked += 1;
        }
        let grants = &self.grants;
        self.access
            .retain(|_, a| grants.get(&a.grant).is_some_and(|g| !g.revoked));
        revoked
    }

    /// Makes every access token of `user` expired now.
    pub fn expire_user_access(&mut self, user: &str, now_s: i64) -> usize {
        let grants = &self.grants;
        let mut expired = 0;
        for access in self.access.values_mut() {
            if grants.get(&access.grant).is_some_and(|g| g.user == user)
                && access.expires_s > now_s - 1
            {
                access.expires_s = now_s - 1;
                expired += 1;
            }
        }
        expired
    }

    /// Replaces the scopes of every live grant of `user`.
    pub fn rescope_user(&mut self, user: &str, scopes: &[String]) {
        for grant in self
            .grants
            .values_mut()
            .filter(|g| g.user == user && !g.revoked)
        {
            grant.scopes = scopes.to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes() -> Vec<String> {
        vec!["user-read-playback-state".to_owned()]
    }

    #[test]
    fn code_is_single_use_and_checks_pkce() {
        let mut grants = Grants::default();
        let verifier = "a-verifier-that-is-long-enough-for-pkce-0123456789";
        let code = grants.issue_code("alice", "http://cb", scopes(), Some(s256(verifier)), 0);
        let issued = grants.exchange_code(
            &code,
            Some("http://cb"),
            Some(verifier),
            ClientAuth::Public,
            1,
        );
        assert!(issued.is_ok());
        let again = grants.exchange_code(
            &code,
            Some("http://cb"),
            Some(verifier),
            ClientAuth::Public,
            1,
        );
        assert!(matches!(
            again,
            Err(SandboxError::OAuth {
                description: "Invalid authorization code",
                ..
            })
        ));
        let code = grants.issue_code("alice", "http://cb", scopes(), Some(s256(verifier)), 0);
        let wrong = grants.exchange_code(
            &code,
            Some("http://cb"),
            Some("nope"),
            ClientAuth::Public,
            1,
        );
        assert!(matches!(
            wrong,
            Err(SandboxError::OAuth {
                description: "code_verifier was incorrect",
                ..
            })
        ));
    }

    #[test]
    fn refresh_tokens_die_six_months_after_consent() {
        let mut grants = Grants::default();
        let code = grants.issue_code("alice", "http://cb", scopes(), None, 0);
        let issued =
            grants.exchange_code(&code, Some("http://cb"), None, ClientAuth::Confidential, 0);
        let refresh = issued
            .ok()
            .and_then(|i| i.refresh_token)
            .unwrap_or_default();
        let ok = grants.refresh(
            &refresh,
            ClientAuth::Confidential,
            |_| RefreshMode::Reusable,
            REFRESH_TOKEN_LIFETIME_S - 1,
        );
        assert!(ok.is_ok_and(|i| i.refresh_token.is_none()));
        let dead = grants.refresh(
            &refresh,
            ClientAuth::Confidential,
            |_| RefreshMode::Reusable,
            REFRESH_TOKEN_LIFETIME_S,
        );
        assert!(matches!(
            dead,
            Err(SandboxError::OAuth {
                error: "invalid_grant",
                ..
            })
        ));
    }

    #[test]
    fn rfc7636_example_challenge() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
