//! Capture files to RSerPool messages: pcap and pcapng, link layers, IP,
//! SCTP DATA chunks, TCP stream reassembly and UDP announces.
#![forbid(unsafe_code)]
