//! `rserpool inspect`: decode the ASAP and ENRP messages of a capture.
//!
//! The capture reader finds the messages (SCTP, TCP, UDP); the wire codec
//! decodes them; `--verify` re-encodes each one and compares the bytes,
//! which checks the codec against whatever implementation sent them.

mod fields;
mod json;
mod verify;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use rserpool_capture::{CapturedMessage, Extraction, Timestamp};
use rserpool_proto::wire::{self, DecodeError, DecodeOptions, Decoded, Message};

/// Arguments of `rserpool inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The capture file (pcap or pcapng).
    pub file: PathBuf,
    /// Print the whole decoded message under each line (not with --json).
    #[arg(long)]
    pub verbose: bool,
    /// One JSON object per message and line.
    #[arg(long)]
    pub json: bool,
    /// Re-encode every message and compare with the captured bytes; exit
    /// status 1 if any differs or is malformed.
    #[arg(long)]
    pub verify: bool,
    /// Also decode this port as ASAP (TCP, SCTP without PPID, UDP; repeatable)
    #[arg(long = "asap-port", value_name = "PORT")]
    pub asap_ports: Vec<u16>,
    /// Also decode this port as ENRP (repeatable)
    #[arg(long = "enrp-port", value_name = "PORT")]
    pub enrp_ports: Vec<u16>,
}

/// What decoding one captured message gave.
#[derive(Debug)]
pub enum Outcome {
    Decoded(Decoded<Message>),
    Malformed {
        /// The RFC name of the type byte, or `UNKNOWN`.
        type_name: &'static str,
        error: DecodeError,
    },
}

fn wire_protocol(p: rserpool_capture::Protocol) -> wire::Protocol {
    match p {
        rserpool_capture::Protocol::Asap => wire::Protocol::Asap,
        rserpool_capture::Protocol::Enrp => wire::Protocol::Enrp,
    }
}

fn decode(m: &CapturedMessage) -> Outcome {
    let protocol = wire_protocol(m.protocol);
    match Message::decode(protocol, &m.bytes, &DecodeOptions::default()) {
        Ok(d) => Outcome::Decoded(d),
        Err(error) => Outcome::Malformed {
            type_name: m
                .bytes
                .first()
                .and_then(|t| protocol.msg_type_name(*t))
                .unwrap_or("UNKNOWN"),
            error,
        },
    }
}

/// Seconds since the first frame with nanosecond digits, as tshark prints them.
pub fn relative_time(t: Timestamp, first: Timestamp) -> String {
    let nanos = t.nanos_since(first);
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    format!("{sign}{}.{:09}", abs / 1_000_000_000, abs % 1_000_000_000)
}

/// Per-type tallies for the closing summary.
#[derive(Debug, Default)]
struct Tally {
    /// (protocol, type byte) -> (name, decoded, malformed)
    by_type: BTreeMap<(wire::Protocol, u8), (&'static str, u64, u64)>,
    messages: u64,
    verified: u64,
    differing: u64,
    malformed: u64,
}

impl Tally {
    fn count(&mut self, m: &CapturedMessage, outcome: &Outcome) {
        self.messages += 1;
        let key = (
            wire_protocol(m.protocol),
            m.bytes.first().copied().unwrap_or(0),
        );
        let entry = self.by_type.entry(key).or_insert(("UNKNOWN", 0, 0));
        match outcome {
            Outcome::Decoded(d) => {
                entry.0 = d.message.type_name();
                entry.1 += 1;
            }
            Outcome::Malformed { type_name, .. } => {
                entry.0 = type_name;
                entry.2 += 1;
                self.malformed += 1;
            }
        }
    }

    fn write(&self, out: &mut impl Write, frames: u64, verify: bool) -> io::Result<()> {
        writeln!(
            out,
            "Summary: {} messages in {frames} frames",
            self.messages
        )?;
        for ((protocol, code), (name, ok, bad)) in &self.by_type {
            let name = if *name == "UNKNOWN" {
                format!("type {code:#04x}")
            } else {
                name.to_string()
            };
            write!(out, "  {protocol} {name:<28} {ok:>7}")?;
            if *bad > 0 {
                write!(out, "  (+{bad} malformed)")?;
            }
            writeln!(out)?;
        }
        if verify {
            writeln!(
                out,
                "verified {}, differing {}, malformed {}",
                self.verified, self.differing, self.malformed
            )?;
        } else {
            writeln!(out, "malformed {}", self.malformed)?;
        }
        Ok(())
    }
}

/// Runs the command; returns the process exit status.
pub fn run(args: &Args) -> i32 {
    let ports = rserpool_capture::Ports {
        asap: args.asap_ports.clone(),
        enrp: args.enrp_ports.clone(),
    };
    let extraction = match rserpool_capture::extract_file_with(&args.file, ports) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("rserpool inspect: {}: {e}", args.file.display());
            return 2;
        }
    };
    // Not a capture at all (text, empty, a directory): say so and fail.
    if extraction.frames == 0 {
        if let Some(d) = extraction
            .diagnostics
            .iter()
            .find(|d| d.severity() == rserpool_capture::Severity::Error)
        {
            eprintln!(
                "rserpool inspect: {} is not a readable pcap or pcapng capture ({})",
                args.file.display(),
                d.kind
            );
            return 2;
        }
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = report(args, &extraction, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    for d in &extraction.diagnostics {
        eprintln!("rserpool inspect: {d}");
    }
    if extraction.messages.is_empty() && extraction.other_tcp_segments > 0 {
        eprintln!(
            "rserpool inspect: no ASAP or ENRP message, but {} TCP segments with data on other \
             ports than 3863 and 9901: name a registrar's ports with --asap-port and --enrp-port",
            extraction.other_tcp_segments
        );
    }
    match result {
        Ok(code) => code,
        // A reader that went away (`| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("rserpool inspect: {e}");
            2
        }
    }
}

fn report(args: &Args, x: &Extraction, out: &mut impl Write) -> io::Result<i32> {
    let first = x.first_timestamp.unwrap_or_default();
    let mut tally = Tally::default();
    let mut printed_any = false;
    for m in &x.messages {
        let outcome = decode(m);
        tally.count(m, &outcome);
        let difference = match (&outcome, args.verify) {
            (Outcome::Decoded(d), true) => {
                // A message that does not encode again differs entirely.
                let again = d.message.to_bytes().unwrap_or_default();
                let diff = verify::compare(&m.bytes, &again);
                if diff.is_some() {
                    tally.differing += 1;
                } else {
                    tally.verified += 1;
                }
                Some(diff)
            }
            _ => None,
        };
        if args.json {
            let value = json::object(m, first, &outcome, difference.as_ref());
            writeln!(out, "{value}")?;
            continue;
        }
        let problem =
            matches!(outcome, Outcome::Malformed { .. }) || matches!(difference, Some(Some(_)));
        // With --verify only the problems are listed.
        if args.verify && !problem {
            continue;
        }
        printed_any = true;
        write_line(out, m, first, &outcome)?;
        if let Some(Some(d)) = &difference {
            writeln!(out, "    {d}")?;
        }
        if args.verbose {
            write_tree(out, m, &outcome)?;
        }
    }
    if args.json {
        // Machine-readable output stays one object per line; the summary
        // goes where a person will see it.
        let mut summary = Vec::new();
        tally.write(&mut summary, x.frames, args.verify)?;
        io::stderr().write_all(&summary)?;
    } else {
        if printed_any {
            writeln!(out)?;
        }
        tally.write(out, x.frames, args.verify)?;
        if !x.diagnostics.is_empty() {
            writeln!(
                out,
                "capture diagnostics: {} (on stderr)",
                x.diagnostics.len()
            )?;
        }
    }
    let failed = args.verify && (tally.differing > 0 || tally.malformed > 0);
    Ok(i32::from(failed))
}

fn write_line(
    out: &mut impl Write,
    m: &CapturedMessage,
    first: Timestamp,
    outcome: &Outcome,
) -> io::Result<()> {
    let proto = wire_protocol(m.protocol);
    write!(
        out,
        "{:>6} {:>13} {} -> {} {} {proto} ",
        m.frame,
        relative_time(m.timestamp, first),
        m.src,
        m.dst,
        m.carrier
    )?;
    match outcome {
        Outcome::Decoded(d) => {
            let fields = fields::key_fields(&d.message);
            writeln!(out, "{} {fields}", d.message.type_name())?;
        }
        Outcome::Malformed { type_name, error } => {
            writeln!(out, "{type_name} MALFORMED: {error}")?;
        }
    }
    Ok(())
}

fn write_tree(out: &mut impl Write, m: &CapturedMessage, outcome: &Outcome) -> io::Result<()> {
    match outcome {
        Outcome::Decoded(d) => {
            let tree = match &d.message {
                Message::Asap(a) => format!("{a:#?}"),
                Message::Enrp(e) => format!("{e:#?}"),
            };
            // `Variant(\n    Struct {..},\n)`: the struct alone says it all.
            let lines: Vec<&str> = tree.lines().collect();
            let inner = match lines.as_slice() {
                [open, inner @ .., ")"] if open.ends_with('(') => inner
                    .iter()
                    .map(|l| l.strip_prefix("    ").unwrap_or(l))
                    .collect(),
                _ => lines,
            };
            for line in inner {
                writeln!(out, "    {}", line.trim_end_matches(','))?;
            }
            for p in &d.unrecognized {
                writeln!(out, "    unrecognized parameter: {p:?}")?;
            }
        }
        Outcome::Malformed { .. } => {
            for (i, chunk) in m.bytes.chunks(16).enumerate() {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                writeln!(out, "    {:04x}  {}", i * 16, hex.join(" "))?;
            }
        }
    }
    Ok(())
}
