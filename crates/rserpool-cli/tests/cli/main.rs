//! The `rserpool` command as a user runs it: one test binary (each file a
//! module) so that CI links once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench;
mod endpoints_cli;
mod inspect;
mod tools_demo;
mod tools_dump;
mod tools_monitor;
