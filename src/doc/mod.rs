//! The JSON documents of saved-image archives, as typed structs.
//!
//! Each document keeps the fields imgtar checks typed, and the whole document as
//! `serde_json::Value` where later consumers (inspect, history) need fields verbatim.

pub mod config;
pub mod legacy;
pub mod manifest;
pub mod oci;
pub mod repositories;
