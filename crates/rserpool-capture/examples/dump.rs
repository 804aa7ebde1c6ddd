//! Lists the messages and diagnostics of a capture: `cargo run --example dump FILE`.

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: dump FILE");
        std::process::exit(2);
    };
    let x = rserpool_capture::extract_file(path)?;
    for m in &x.messages {
        let (kind, len) = (m.bytes.first().copied().unwrap_or(0), m.bytes.len());
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\ttype={kind}\tlen={len}",
            m.frame, m.timestamp, m.src, m.dst, m.carrier, m.protocol
        );
    }
    for d in &x.diagnostics {
        println!("{d}");
    }
    eprintln!("{} frames, {} messages", x.frames, x.messages.len());
    Ok(())
}
