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
mod damaged;
mod e2e_umoci;
mod engine_api;
mod engine_daemon;
mod engine_golden;
mod engine_support;
mod export;
mod hostile;
mod layers;
mod layers_cli;
mod layers_prop;
mod rules;
mod stream;
mod support;
mod unpack;
mod unpack_docker;
// The fuzz targets' checks are behind the `fuzzing` feature:
// `cargo test --features fuzzing --test all fuzz_replay`.
#[cfg(feature = "fuzzing")]
mod fuzz_replay;
mod harness;
mod loader_facts;
mod loaders;
mod loaders_links;
mod loaders_observed;
mod loaders_smoke;
