//! The thin kernel SCTP layer: the only place of the project with
//! `unsafe`, for the SCTP socket options that the standard library and
//! socket2 do not wrap.
//!
//! Associations use one-to-one style sockets (`SOCK_STREAM`,
//! `IPPROTO_SCTP`), which behave like TCP sockets for accept, read and
//! write, so tokio drives them as such. What SCTP adds is set here: the
//! payload protocol identifier of every message, no Nagle-style delay, and
//! extra local addresses for multi-homing.
#![allow(unsafe_code)]

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

const IPPROTO_SCTP: i32 = 132;
const SOL_SCTP: libc::c_int = 132;
const SCTP_NODELAY: libc::c_int = 3;
const SCTP_DEFAULT_SEND_PARAM: libc::c_int = 10;
const SCTP_SOCKOPT_BINDX_ADD: libc::c_int = 100;

/// `struct sctp_sndrcvinfo` of `<netinet/sctp.h>` (Linux layout).
#[repr(C)]
#[derive(Default)]
struct SctpSndRcvInfo {
    sinfo_stream: u16,
    sinfo_ssn: u16,
    sinfo_flags: u16,
    sinfo_ppid: u32,
    sinfo_context: u32,
    sinfo_timetolive: u32,
    sinfo_tsn: u32,
    sinfo_cumtsn: u32,
    sinfo_assoc_id: i32,
}

/// A one-to-one SCTP socket, or the kernel's refusal.
pub fn socket(addr: &SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::from(IPPROTO_SCTP)),
    )
}

/// Whether this kernel can open SCTP sockets at all.
pub fn kernel_supports_sctp() -> bool {
    let probe: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    socket(&probe).is_ok()
}

/// Sends every message of this socket with `ppid` (ASAP 11, ENRP 12) and
/// without delay.
pub fn configure(sock: &Socket, ppid: u32) -> io::Result<()> {
    let info = SctpSndRcvInfo {
        // The kernel copies the PPID to the wire as it is given: network order.
        sinfo_ppid: ppid.to_be(),
        ..Default::default()
    };
    set_option(sock, SCTP_DEFAULT_SEND_PARAM, &info)?;
    set_option(sock, SCTP_NODELAY, &1i32)
}

/// Adds further local addresses to a bound socket (multi-homing).
pub fn bind_extra(sock: &Socket, addrs: &[SocketAddr]) -> io::Result<()> {
    for addr in addrs {
        let sa = socket2::SockAddr::from(*addr);
        // SAFETY: `sa.as_ptr()` points to a valid sockaddr of `sa.len()`
        // bytes that lives across the call; the kernel only reads it.
        let rc = unsafe {
            libc::setsockopt(
                fd(sock),
                SOL_SCTP,
                SCTP_SOCKOPT_BINDX_ADD,
                sa.as_ptr().cast(),
                sa.len(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn set_option<T>(sock: &Socket, name: libc::c_int, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option too large"))?;
    // SAFETY: `value` is a live, initialised `T` of exactly `len` bytes,
    // borrowed for the duration of the call; the kernel only reads it.
    let rc = unsafe { libc::setsockopt(fd(sock), SOL_SCTP, name, (value as *const T).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn fd(sock: &Socket) -> libc::c_int {
    use std::os::fd::AsRawFd;
    sock.as_raw_fd()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sndrcvinfo_has_the_kernel_layout() {
        // 3 x u16, 2 bytes of padding, 5 x u32, 1 x i32.
        assert_eq!(std::mem::size_of::<super::SctpSndRcvInfo>(), 32);
    }
}
