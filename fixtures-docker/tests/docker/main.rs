//! Behaviour against the real engine, with the local images (`scripts/build-images.sh`).
//! These tests fail, not skip, when no engine answers.

#[path = "../common/mod.rs"]
mod common;

mod basics;
mod derive;
mod leftovers;
mod pull;
mod readiness;
mod remote;
mod suite;
