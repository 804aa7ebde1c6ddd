//! Capture files to RSerPool messages: pcap and pcapng, link layers, IP,
//! SCTP DATA chunks, TCP stream reassembly and UDP announces.
//!
//! [`extract`] reads a whole capture and returns every ASAP and ENRP
//! message, undecoded, with the frame, time and addresses it was seen
//! with, plus [`Diagnostic`]s for everything that was odd or damaged.
//! Nothing in the input stops a run: damaged frames are reported and
//! skipped, and a damaged file yields what came before the damage.
//!
//! The layers are usable on their own: [`FrameReader`] for frames,
//! [`link`] and [`ip`] for headers, [`sctp`] and [`tcp`] for chunks,
//! segments and reassembly.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bytes;
pub mod diag;
mod extract;
pub mod file;
pub mod ip;
pub mod link;
mod message;
pub mod sctp;
pub mod synth;
pub mod tcp;

pub use diag::{Diagnostic, DiagnosticKind, Flow, Layer, Severity};
pub use extract::{
    ASAP_PORT, ENRP_PORT, Extraction, Extractor, PPID_ASAP, PPID_ASAP_DRAFT, PPID_ENRP,
    PPID_ENRP_DRAFT, Ports, extract, extract_file, extract_file_with, extract_reader,
    extract_reader_with, protocol_by_ports, protocol_by_ppid,
};
pub use file::{Frame, FrameReader};
pub use message::{CapturedMessage, Carrier, Protocol, Timestamp};
