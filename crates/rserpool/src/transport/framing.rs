//! Splitting a byte stream into ASAP/ENRP messages: the deframer lives in
//! the protocol core ([`rserpool_proto::wire::stream`]), next to the
//! data-channel one, on the same receive buffer.

pub use rserpool_proto::wire::stream::{Deframer, FramingError, HEADER_LEN};
