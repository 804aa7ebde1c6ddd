//! The runtime's integration tests on loopback, one binary (each file a
//! module) so that CI links once. `registrar_daemon` stays a binary of its
//! own: the lab runs it alone over kernel SCTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod endpoints_registrars;
mod endpoints_sessions;
mod examples;
mod http_api;
mod http_dashboard;
mod registrar_listen_conflicts;
mod registrar_wire_limits;
mod scope_ipv6;
mod tls;
mod transport_tcp;
