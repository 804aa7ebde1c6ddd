//! The protocol core's integration tests (wire codec, handlespace,
//! registrar, PE and PU state machines), one binary (each file a module)
//! so that CI links once.
#![allow(clippy::unwrap_used)]

mod registrar_net;

mod checksum_capture;
mod handlespace_model;
mod handlespace_policies;
mod pe_random_driver;
mod pe_state_machine;
mod pu_random_driver;
mod pu_state_machine;
mod registrar_asap;
mod registrar_emits_decodable;
mod registrar_enrp;
mod registrar_hostile_peer;
mod registrar_identity;
mod registrar_interop;
mod registrar_list;
mod set_model;
mod wire_bad_input;
mod wire_encode_limits;
mod wire_roundtrip;
mod wire_units;
mod wire_vectors;
