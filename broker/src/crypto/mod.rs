//! Key material: the only module that touches encryption keys.

mod cipher;
mod data_key;

pub use cipher::{CipherError, FieldAad, KeyRing, generate_key};
pub use data_key::{DataKey, WRAP_INFO, WrapAad};
