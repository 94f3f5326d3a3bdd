//! Key material: the only module that touches encryption keys.

mod cipher;

pub use cipher::{CipherError, FieldAad, KeyRing, generate_key};
