//! The Web API subset a music skill uses.

pub mod etag;
pub mod me;
pub mod objects;
pub mod player;
pub mod playlists;
pub mod request;
pub mod search;
