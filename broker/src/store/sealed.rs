//! Every sealed column and its associated data, in one place: a ciphertext opens only in the table, row
//! and field it was sealed for.

use crate::crypto::FieldAad;
use crate::domain::{LinkId, TokenHash};

/// A column that holds a sealed secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // named after their columns
pub(crate) enum SealedField {
    /// `link.spotify_refresh_token`.
    SpotifyRefreshToken,
    /// `link.spotify_access_token`.
    SpotifyAccessToken,
    /// `pending_authorization.spotify_code_verifier`.
    SpotifyCodeVerifier,
}

impl SealedField {
    fn table(self) -> &'static str {
        match self {
            Self::SpotifyRefreshToken | Self::SpotifyAccessToken => "link",
            Self::SpotifyCodeVerifier => "pending_authorization",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Self::SpotifyRefreshToken => "spotify_refresh_token",
            Self::SpotifyAccessToken => "spotify_access_token",
            Self::SpotifyCodeVerifier => "spotify_code_verifier",
        }
    }

    /// The associated data for a link's field: `link`, the link id, the column.
    pub(crate) fn of_link(self, link_id: &LinkId) -> FieldAad {
        FieldAad::new(self.table(), &link_id.to_string(), self.column())
    }

    /// The associated data for a pending authorization's field: its table, the state's hash, the column.
    pub(crate) fn of_pending(self, state_hash: &TokenHash) -> FieldAad {
        FieldAad::new(self.table(), state_hash.as_str(), self.column())
    }
}
