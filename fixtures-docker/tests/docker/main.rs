//! Behaviour against the real engine, with the local images (`scripts/build-images.sh`).
//! These tests fail, not skip, when no engine answers.

#[path = "../common/mod.rs"]
mod common;

mod basics;
mod compose;
mod derive;
mod leftovers;
mod pull;
mod readiness;
mod redis;
mod remote;
mod suite;
