//! The capture reader's integration tests, one binary (each file a module)
//! so that CI links once.
#![allow(clippy::unwrap_used)]

mod capture_roundtrip;
mod mutated;
mod real_capture;
mod synthetic;
