//! imgtar's integration tests, in one crate: the archive builders shared by the modules
//! (`support`, `engine_support`) and one module per area.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod corpus;
mod engine_support;
mod hostile;
mod layers;
mod rules;
mod stream;
mod support;
mod layers_prop;
mod layers_cli;
