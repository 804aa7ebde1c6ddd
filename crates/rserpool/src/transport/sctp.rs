//! The thin kernel SCTP layer: the only place of the project with
//! `unsafe`, for the SCTP socket options that the standard library and
//! socket2 do not wrap.
//!
//! Associations use one-to-one style sockets (`SOCK_STREAM`,
//! `IPPROTO_SCTP`), which behave like TCP sockets for accept, read and
//! write, so tokio drives them as such. What SCTP adds is set here: the
//! payload protocol identifier of every message, no Nagle-style delay, and
//! extra local addresses for multi-homing.
//!
//! The data channel between pool users and pool elements needs more: each
//! message carries its own PPID (ASAP 11 for control, the application's
//! otherwise). [`send_message`] sends one message with an `SCTP_SNDRCV`
//! control message naming its PPID; [`recv_message_part`] receives (a part
//! of) one message and the PPID of its `SCTP_SNDRCV` control message, which
//! the kernel attaches once [`subscribe_data_io`] asked for it. The control
//! messages are built and read by the safe [`encode_sndrcv_cmsg`] and
//! [`ppid_from_cmsgs`]; only the system calls themselves are `unsafe`.
#![allow(unsafe_code)]

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

const IPPROTO_SCTP: i32 = 132;
const SOL_SCTP: libc::c_int = 132;
const SCTP_NODELAY: libc::c_int = 3;
const SCTP_DEFAULT_SEND_PARAM: libc::c_int = 10;
const SCTP_EVENTS: libc::c_int = 11;
const SCTP_SOCKOPT_BINDX_ADD: libc::c_int = 100;
/// `enum sctp_cmsg_type` of `<linux/sctp.h>`: `struct sctp_sndrcvinfo`.
const SCTP_SNDRCV: libc::c_int = 1;
/// `enum sctp_cmsg_type`: `struct sctp_rcvinfo` (`SCTP_RECVRCVINFO`).
const SCTP_RCVINFO: libc::c_int = 3;
/// `recvmsg` flag of an SCTP notification (not user data).
const MSG_NOTIFICATION: libc::c_int = 0x8000;
/// Offset of the PPID in `struct sctp_sndrcvinfo` and in
/// `struct sctp_rcvinfo` alike (after three u16 and two bytes of padding).
const PPID_OFFSET: usize = 8;
/// Room for the control messages of one `recvmsg`: an `SCTP_SNDRCV`
/// (header and 32 bytes) with ample slack for anything else.
const RECV_CONTROL_LEN: usize = 256;

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

/// Whether this kernel gives each association of a one-to-many socket a
/// send buffer of its own (`net.sctp.sndbuf_policy = 1`; Linux's default
/// is 0, one buffer for all).
pub fn send_buffer_per_association() -> bool {
    std::fs::read_to_string("/proc/sys/net/sctp/sndbuf_policy").is_ok_and(|p| p.trim() == "1")
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
    set_option(sock, SCTP_NODELAY, &1i32)?;
    // Association changes as notifications (no SNDRCV data): an ABORT
    // then reaches a reader as COMM_LOST even when a send has already
    // taken the socket's error, which is all a one-to-one socket
    // otherwise shows of it.
    set_option(sock, SCTP_EVENTS, &[0u8, 1u8])
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

/// Asks the kernel to attach an `SCTP_SNDRCV` control message (with the
/// PPID) to every message `recvmsg` returns: `sctp_event_subscribe`'s first
/// field, `sctp_data_io_event`; the second, association changes, is turned
/// off (the data channel reads no notifications). The other subscriptions
/// stay as they are (off).
pub fn subscribe_data_io(sock: &Socket) -> io::Result<()> {
    set_option(sock, SCTP_EVENTS, &[1u8, 0u8])
}

/// Bytes of a `struct cmsghdr` (`cmsg_len`, `cmsg_level`, `cmsg_type`).
const CMSG_HEADER_LEN: usize = std::mem::size_of::<libc::cmsghdr>();

/// `CMSG_ALIGN`: control messages are aligned to `size_t`.
const fn cmsg_align(len: usize) -> usize {
    let a = std::mem::size_of::<usize>();
    (len + a - 1) & !(a - 1)
}

/// `CMSG_SPACE` of an `SCTP_SNDRCV` control message.
pub const SNDRCV_CMSG_SPACE: usize =
    cmsg_align(CMSG_HEADER_LEN) + cmsg_align(std::mem::size_of::<SctpSndRcvInfo>());

/// Writes the control message of a send with `ppid` (an `SCTP_SNDRCV`
/// with stream 0, no flags) to the front of `out`; returns its length.
pub fn encode_sndrcv_cmsg(ppid: u32, out: &mut [u8; SNDRCV_CMSG_SPACE]) -> usize {
    let data_len = std::mem::size_of::<SctpSndRcvInfo>();
    out.fill(0);
    // cmsg_len (size_t) = CMSG_LEN(data), then level and type (int).
    let cmsg_len = cmsg_align(CMSG_HEADER_LEN) + data_len;
    let usz = std::mem::size_of::<usize>();
    out[..usz].copy_from_slice(&cmsg_len.to_ne_bytes());
    out[usz..usz + 4].copy_from_slice(&SOL_SCTP.to_ne_bytes());
    out[usz + 4..usz + 8].copy_from_slice(&SCTP_SNDRCV.to_ne_bytes());
    // sinfo_ppid is kept in network byte order.
    let data = cmsg_align(CMSG_HEADER_LEN);
    out[data + PPID_OFFSET..data + PPID_OFFSET + 4].copy_from_slice(&ppid.to_be_bytes());
    SNDRCV_CMSG_SPACE
}

/// The PPID of the first `SCTP_SNDRCV` or `SCTP_RCVINFO` control message
/// in `control` (the control buffer `recvmsg` filled), walked as
/// `CMSG_FIRSTHDR`/`CMSG_NXTHDR` do. `None` if there is none or the
/// buffer is malformed.
pub fn ppid_from_cmsgs(control: &[u8]) -> Option<u32> {
    let usz = std::mem::size_of::<usize>();
    let mut at = 0usize;
    while control.len().checked_sub(at)? >= CMSG_HEADER_LEN {
        let h = &control[at..];
        let len = usize::from_ne_bytes(h[..usz].try_into().ok()?);
        let level = i32::from_ne_bytes(h[usz..usz + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(h[usz + 4..usz + 8].try_into().ok()?);
        if len < CMSG_HEADER_LEN || len > h.len() {
            return None;
        }
        let data = &h[cmsg_align(CMSG_HEADER_LEN)..len];
        if level == SOL_SCTP && (kind == SCTP_SNDRCV || kind == SCTP_RCVINFO) {
            let p = data.get(PPID_OFFSET..PPID_OFFSET + 4)?;
            return Some(u32::from_be_bytes(p.try_into().ok()?));
        }
        at = at.checked_add(cmsg_align(len))?;
    }
    None
}

/// Sends `payload` as one SCTP message with `ppid` on a connected
/// one-to-one socket. Non-blocking sockets give `WouldBlock` when the
/// send buffer is full; SCTP sends a message whole or not at all.
pub fn send_message(sock: &impl AsRawFd, payload: &[u8], ppid: u32) -> io::Result<usize> {
    #[repr(C, align(8))]
    struct Control([u8; SNDRCV_CMSG_SPACE]);
    let mut control = Control([0; SNDRCV_CMSG_SPACE]);
    let control_len = encode_sndrcv_cmsg(ppid, &mut control.0);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: an all-zero msghdr is valid (null name, no iovecs, no
    // control); the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control_len as _;
    // SAFETY: `msg` points to one iovec over `payload` (alive and only read
    // by the kernel) and to `control`, a size_t-aligned buffer of
    // `control_len` bytes holding one well-formed cmsghdr; all of them
    // outlive the call.
    let rc = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// What one `recvmsg` on an SCTP socket gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvPart {
    /// Bytes written to the buffer; 0 at end of stream (SCTP messages are
    /// never empty).
    pub len: usize,
    /// The message's PPID, if the kernel attached it.
    pub ppid: Option<u32>,
    /// The part ends its message (`MSG_EOR`).
    pub end_of_message: bool,
    /// The part belongs to a notification, not to user data.
    pub notification: bool,
}

/// Receives (part of) the next message of a connected one-to-one SCTP
/// socket into `buf`. A message longer than `buf`, or delivered partially
/// by the kernel, comes in several parts; the last has `end_of_message`.
pub fn recv_message_part(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<RecvPart> {
    #[repr(C, align(8))]
    struct Control([u8; RECV_CONTROL_LEN]);
    let mut control = Control([0; RECV_CONTROL_LEN]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid (null name, no iovecs, no
    // control); the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = RECV_CONTROL_LEN as _;
    // SAFETY: `msg` points to one iovec over `buf` (exclusively borrowed,
    // `buf.len()` writable bytes) and to `control`, a size_t-aligned
    // writable buffer of RECV_CONTROL_LEN bytes; the kernel writes at most
    // those lengths, and all of them outlive the call.
    let rc = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let control_len = (msg.msg_controllen as usize).min(RECV_CONTROL_LEN);
    Ok(RecvPart {
        len: rc as usize,
        ppid: ppid_from_cmsgs(&control.0[..control_len]),
        end_of_message: msg.msg_flags & libc::MSG_EOR != 0,
        notification: msg.msg_flags & MSG_NOTIFICATION != 0,
    })
}

/// What one [`recv_batch`] gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Bytes appended to the buffer.
    pub len: usize,
    /// The socket returned fewer messages than asked for: it is drained
    /// now (the caller can wait for the next readiness event without a
    /// read that would find nothing).
    pub drained: bool,
    /// The peer closed the association (a read returned 0 bytes, or a
    /// SHUTDOWN_COMP notification).
    pub end: bool,
    /// The association was lost: aborted by the peer, or failed (a
    /// COMM_LOST notification). Nothing follows.
    pub lost: bool,
}

/// Receives everything queued on a connected one-to-one SCTP socket, up
/// to `slots` messages (or parts of messages) of up to `slot_len` bytes,
/// with one `recvmmsg` system call, and appends the bytes to `buf` in
/// order (a message longer than a slot continues in the next one, as
/// successive reads of one SCTP message do). `WouldBlock` if nothing is
/// queued. Where a read returns one message, this pays the kernel entry
/// once for a burst, and a short batch shows the socket drained without
/// a read that fails.
pub fn recv_batch(
    sock: &impl AsRawFd,
    buf: &mut Vec<u8>,
    slots: usize,
    slot_len: usize,
) -> io::Result<Batch> {
    let total = slots.saturating_mul(slot_len);
    if slots == 0 || slot_len == 0 || total > (1 << 24) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad batch size",
        ));
    }
    buf.reserve(total);
    let start = buf.len();
    // The spare capacity: at least `total` bytes, not yet initialised.
    let base = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    let mut iovs: Vec<libc::iovec> = (0..slots)
        .map(|i| libc::iovec {
            // SAFETY: i * slot_len + slot_len <= total <= the spare
            // capacity, so the pointer stays inside the allocation.
            iov_base: unsafe { base.add(i * slot_len) }.cast(),
            iov_len: slot_len,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: an all-zero mmsghdr is valid (null name, no iovecs,
            // no control, length 0); the iovec is set below.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let vlen = libc::c_uint::try_from(slots)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many slots"))?;
    // SAFETY: `msgs` holds `slots` headers, each pointing to one iovec of
    // `iovs` (alive, not moved: `iovs` is not touched until after the
    // call) over its own disjoint `slot_len` bytes of `buf`'s spare
    // capacity, which the kernel may write (uninitialised memory is fine
    // to write into); no names or control buffers. MSG_DONTWAIT: the call
    // never blocks the runtime's thread; no timeout pointer.
    let rc = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            msgs.as_mut_ptr(),
            vlen,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = usize::try_from(rc).unwrap_or(0).min(slots);
    let mut len = 0usize;
    let (mut end, mut lost) = (false, false);
    for (i, m) in msgs.iter().take(got).enumerate() {
        let n = (m.msg_len as usize).min(slot_len);
        if m.msg_hdr.msg_flags & MSG_NOTIFICATION != 0 {
            // SAFETY: the kernel wrote these n bytes of slot i.
            let note = unsafe { std::slice::from_raw_parts(base.add(i * slot_len), n) };
            match assoc_change_state(note) {
                Some(SCTP_COMM_LOST | SCTP_CANT_STR_ASSOC) => {
                    lost = true;
                    break;
                }
                Some(SCTP_SHUTDOWN_COMP) => {
                    end = true;
                    break;
                }
                _ => continue,
            }
        }
        if n == 0 {
            end = true;
            break;
        }
        if i * slot_len != len {
            // SAFETY: both ranges lie in the spare capacity reserved
            // above; the source (slot i, n bytes written by the kernel) is
            // initialised, and `ptr::copy` allows overlap. The
            // destination ends at len + n <= i * slot_len + n.
            unsafe { std::ptr::copy(base.add(i * slot_len), base.add(len), n) };
        }
        len += n;
    }
    // SAFETY: the first `len` bytes of the spare capacity were written,
    // by the kernel or by the copies above, so they are initialised.
    unsafe { buf.set_len(start + len) };
    Ok(Batch {
        len,
        drained: got < slots && !end && !lost,
        end,
        lost,
    })
}

/// A one-to-many SCTP socket (`SOCK_SEQPACKET`): one descriptor for every
/// association of an endpoint. A listening one also accepts the
/// associations of one-to-one peers (RSPLIB's PEs connect either way).
pub fn many_socket(addr: &SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(*addr),
        Type::SEQPACKET,
        Some(Protocol::from(IPPROTO_SCTP)),
    )
}

/// Hands a socket to tokio's reactor for readability events only: every
/// chunk a peer acknowledges makes an SCTP socket's send buffer wake its
/// waiters, which for a socket registered for writability too is an
/// epoll wake-up (and a scheduler turn) per acknowledgement. Writers
/// retry on a timer instead, only while the buffer is full.
pub fn register(sock: Socket) -> io::Result<tokio::io::unix::AsyncFd<Socket>> {
    let interest = tokio::io::Interest::READABLE;
    // SAFETY: a `socket2::Socket` owns its descriptor: it is open from
    // creation until the `Socket` is dropped, which the `AsyncFd` does
    // when it is dropped, and `as_raw_fd` always returns that descriptor.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(sock, interest) }
        .map_err(io::Error::from)
}

/// Subscribes a one-to-many socket to what [`recv_many`] needs: the
/// `SCTP_SNDRCV` control message of every data message (its association
/// and PPID) and association changes (up, lost, shut down), the first two
/// fields of `sctp_event_subscribe`.
pub fn subscribe_many(sock: &Socket) -> io::Result<()> {
    set_option(sock, SCTP_EVENTS, &[1u8, 1u8])
}

/// Offset of `sinfo_assoc_id` in `struct sctp_sndrcvinfo`.
const ASSOC_ID_OFFSET: usize = 28;
/// `sn_type` of an `SCTP_ASSOC_CHANGE` notification.
const SCTP_ASSOC_CHANGE: u16 = 0x8001;
/// `sinfo_flags`: shut the association down gracefully (no payload).
pub const SCTP_EOF: u16 = 0x0200;
/// `sinfo_flags`: abort the association (no payload).
pub const SCTP_ABORT: u16 = 0x0004;
/// Room for the control messages of one message of [`recv_many`].
const MANY_CONTROL_LEN: usize = 64;

/// One thing [`recv_many`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManyEvent {
    /// A user message (or, without `complete`, its first part: longer
    /// than a slot) of an association, at `range` of the buffer.
    Data {
        /// The kernel's association identifier.
        assoc: i32,
        /// The message's PPID.
        ppid: u32,
        /// Where its bytes are in the buffer.
        range: std::ops::Range<usize>,
        /// The whole message (`MSG_EOR`).
        complete: bool,
    },
    /// An association came up (`SCTP_COMM_UP`, or `SCTP_RESTART`).
    Up {
        /// The kernel's association identifier.
        assoc: i32,
    },
    /// An association ended (lost, shut down, or never started).
    Down {
        /// The kernel's association identifier.
        assoc: i32,
    },
}

/// The association identifier in the first `SCTP_SNDRCV` control message
/// of `control`.
fn assoc_from_cmsgs(control: &[u8]) -> Option<i32> {
    let usz = std::mem::size_of::<usize>();
    let h = control.get(..CMSG_HEADER_LEN)?;
    let len = usize::from_ne_bytes(h[..usz].try_into().ok()?);
    let level = i32::from_ne_bytes(h[usz..usz + 4].try_into().ok()?);
    let kind = i32::from_ne_bytes(h[usz + 4..usz + 8].try_into().ok()?);
    if level != SOL_SCTP || kind != SCTP_SNDRCV || len > control.len() {
        return None;
    }
    let data = control.get(cmsg_align(CMSG_HEADER_LEN)..len)?;
    let id = data.get(ASSOC_ID_OFFSET..ASSOC_ID_OFFSET + 4)?;
    Some(i32::from_ne_bytes(id.try_into().ok()?))
}

/// `sac_state` values of an `SCTP_ASSOC_CHANGE` notification.
const SCTP_COMM_UP: u16 = 0;
const SCTP_COMM_LOST: u16 = 1;
const SCTP_RESTART: u16 = 2;
const SCTP_SHUTDOWN_COMP: u16 = 3;
const SCTP_CANT_STR_ASSOC: u16 = 4;

/// The state a notification's bytes report, if it is an association
/// change (`struct sctp_assoc_change`: type u16, flags u16, length u32,
/// state u16, error u16, two stream counts u16, then the association id).
fn assoc_change_state(n: &[u8]) -> Option<u16> {
    let ty = u16::from_ne_bytes(n.get(0..2)?.try_into().ok()?);
    if ty != SCTP_ASSOC_CHANGE {
        return None;
    }
    Some(u16::from_ne_bytes(n.get(8..10)?.try_into().ok()?))
}

/// The event a notification's bytes describe, if it is an association
/// change.
fn parse_notification(n: &[u8]) -> Option<ManyEvent> {
    let state = assoc_change_state(n)?;
    let assoc = i32::from_ne_bytes(n.get(16..20)?.try_into().ok()?);
    match state {
        SCTP_COMM_UP | SCTP_RESTART => Some(ManyEvent::Up { assoc }),
        SCTP_COMM_LOST | SCTP_SHUTDOWN_COMP | SCTP_CANT_STR_ASSOC => {
            Some(ManyEvent::Down { assoc })
        }
        _ => None,
    }
}

/// Receives up to `buf.len() / slot_len` messages and notifications of a
/// one-to-many socket ([`subscribe_many`]) with one `recvmmsg`, without
/// waiting, into `slot_len`-byte slots of `buf`; appends what they are to
/// `out` and returns how many were received (`WouldBlock`: none). Fewer
/// than slots means the socket is drained.
pub fn recv_many(
    sock: &impl AsRawFd,
    buf: &mut [u8],
    slot_len: usize,
    out: &mut Vec<ManyEvent>,
) -> io::Result<usize> {
    if slot_len == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty slots"));
    }
    let slots = buf.len() / slot_len;
    #[repr(C, align(8))]
    #[derive(Clone, Copy)]
    struct Control([u8; MANY_CONTROL_LEN]);
    let mut controls = vec![Control([0; MANY_CONTROL_LEN]); slots];
    let mut iovs: Vec<libc::iovec> = buf
        .chunks_exact_mut(slot_len)
        .map(|slot| libc::iovec {
            iov_base: slot.as_mut_ptr().cast(),
            iov_len: slot.len(),
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(controls.iter_mut())
        .map(|(iov, control)| {
            // SAFETY: an all-zero mmsghdr is valid (null name, no iovecs,
            // no control); the fields are set below.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_control = control.0.as_mut_ptr().cast();
            m.msg_hdr.msg_controllen = MANY_CONTROL_LEN as _;
            m
        })
        .collect();
    let vlen = libc::c_uint::try_from(msgs.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many slots"))?;
    // SAFETY: `msgs` holds `vlen` headers; each points to one iovec over
    // its own disjoint slot of `buf` (exclusively borrowed, writable) and
    // to its own size_t-aligned control buffer of MANY_CONTROL_LEN bytes;
    // `iovs` and `controls` are not touched until after the call, so the
    // pointers stay valid. MSG_DONTWAIT: never blocks; no timeout.
    let rc = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            msgs.as_mut_ptr(),
            vlen,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = usize::try_from(rc).unwrap_or(0).min(msgs.len());
    for (i, m) in msgs.iter().take(got).enumerate() {
        let n = (m.msg_len as usize).min(slot_len);
        let at = i * slot_len;
        let flags = m.msg_hdr.msg_flags;
        if flags & MSG_NOTIFICATION != 0 {
            if let Some(e) = parse_notification(&buf[at..at + n]) {
                out.push(e);
            }
            continue;
        }
        let control_len = MANY_CONTROL_LEN.min(m.msg_hdr.msg_controllen as _);
        let control = &controls[i].0[..control_len];
        let (Some(assoc), Some(ppid)) = (assoc_from_cmsgs(control), ppid_from_cmsgs(control))
        else {
            continue;
        };
        out.push(ManyEvent::Data {
            assoc,
            ppid,
            range: at..at + n,
            complete: flags & libc::MSG_EOR != 0,
        });
    }
    Ok(got)
}

/// Writes the `SCTP_SNDRCV` control message of a send on a one-to-many
/// socket: to association `assoc`, with `ppid` and `flags`.
fn encode_many_cmsg(assoc: i32, ppid: u32, flags: u16, out: &mut [u8; SNDRCV_CMSG_SPACE]) {
    encode_sndrcv_cmsg(ppid, out);
    let data = cmsg_align(CMSG_HEADER_LEN);
    // sinfo_flags is the third u16.
    out[data + 4..data + 6].copy_from_slice(&flags.to_ne_bytes());
    out[data + ASSOC_ID_OFFSET..data + ASSOC_ID_OFFSET + 4].copy_from_slice(&assoc.to_ne_bytes());
}

/// One message for [`send_many`].
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The kernel's association identifier.
    pub assoc: i32,
    /// The message's PPID.
    pub ppid: u32,
    /// The message (empty with [`SCTP_EOF`] or [`SCTP_ABORT`]).
    pub payload: &'a [u8],
    /// `sinfo_flags`: 0 for a message, [`SCTP_EOF`] or [`SCTP_ABORT`] to
    /// end the association in order with the messages around it.
    pub flags: u16,
}

/// Sends messages to associations of a one-to-many socket with one
/// `sendmmsg`, without waiting; returns how many went (each whole: SCTP
/// sends a message whole or not at all). `WouldBlock` if none did.
pub fn send_many(sock: &impl AsRawFd, msgs: &[Outgoing<'_>]) -> io::Result<usize> {
    #[repr(C, align(8))]
    #[derive(Clone, Copy)]
    struct Control([u8; SNDRCV_CMSG_SPACE]);
    let mut controls: Vec<Control> = msgs
        .iter()
        .map(|m| {
            let mut c = Control([0; SNDRCV_CMSG_SPACE]);
            encode_many_cmsg(m.assoc, m.ppid, m.flags, &mut c.0);
            c
        })
        .collect();
    let mut iovs: Vec<libc::iovec> = msgs
        .iter()
        .map(|m| libc::iovec {
            iov_base: m.payload.as_ptr().cast_mut().cast(),
            iov_len: m.payload.len(),
        })
        .collect();
    send_prepared(sock, &mut iovs, &mut controls)
}

/// `sendmmsg` of one message per iovec, each with its control buffer.
fn send_prepared<C>(
    sock: &impl AsRawFd,
    iovs: &mut [libc::iovec],
    controls: &mut [C],
) -> io::Result<usize> {
    let mut hdrs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(controls.iter_mut())
        .map(|(iov, control)| {
            // SAFETY: an all-zero mmsghdr is valid (null name, no iovecs,
            // no control); the fields are set below.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_control = (control as *mut C).cast();
            m.msg_hdr.msg_controllen = std::mem::size_of::<C>() as _;
            m
        })
        .collect();
    let vlen = libc::c_uint::try_from(hdrs.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many messages"))?;
    // SAFETY: `hdrs` holds `vlen` headers; each points to one iovec over a
    // payload the caller keeps borrowed (the kernel only reads it) and to
    // its own size_t-aligned control buffer holding one well-formed
    // SCTP_SNDRCV cmsghdr of size_of::<C>() bytes; `iovs` and `controls`
    // outlive the call. MSG_DONTWAIT: never blocks; MSG_NOSIGNAL: no
    // SIGPIPE.
    let rc = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr(),
            vlen,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(rc).unwrap_or(0))
}

/// Ends association `assoc` of a one-to-many socket: gracefully (SHUTDOWN,
/// after what is queued) or by an ABORT.
pub fn close_many(sock: &impl AsRawFd, assoc: i32, abort: bool) -> io::Result<()> {
    #[repr(C, align(8))]
    struct Control([u8; SNDRCV_CMSG_SPACE]);
    let mut control = [Control([0; SNDRCV_CMSG_SPACE])];
    let flags = if abort { SCTP_ABORT } else { SCTP_EOF };
    encode_many_cmsg(assoc, 0, flags, &mut control[0].0);
    let mut iovs = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }];
    send_prepared(sock, &mut iovs, &mut control).map(|_| ())
}

/// `SCTP_GET_PEER_ADDRS`: the remote addresses of a one-to-one socket's
/// association.
const SCTP_GET_PEER_ADDRS: libc::c_int = 108;

/// Every address of the association's remote endpoint (multi-homing), as
/// the kernel lists them; at most `max`.
pub fn peer_addresses(sock: &impl AsRawFd, max: usize) -> io::Result<Vec<IpAddr>> {
    assoc_peer_addresses(sock, 0, max)
}

/// Every address of the remote endpoint of association `assoc` (0 on a
/// one-to-one socket), as the kernel lists them; at most `max`.
pub fn assoc_peer_addresses(
    sock: &impl AsRawFd,
    assoc: i32,
    max: usize,
) -> io::Result<Vec<IpAddr>> {
    Ok(assoc_peer_socket_addrs(sock, assoc, max)?
        .into_iter()
        .map(|a| a.ip())
        .collect())
}

/// [`assoc_peer_addresses`] with the remote port.
pub fn assoc_peer_socket_addrs(
    sock: &impl AsRawFd,
    assoc: i32,
    max: usize,
) -> io::Result<Vec<SocketAddr>> {
    // struct sctp_getaddrs { sctp_assoc_t assoc_id; u32 addr_num; u8 addrs[]; }
    // with the addresses packed as sockaddr_in / sockaddr_in6 by family.
    const HEAD: usize = 8;
    let v4 = std::mem::size_of::<libc::sockaddr_in>();
    let v6 = std::mem::size_of::<libc::sockaddr_in6>();
    let mut buf = vec![0u8; HEAD + max * v6];
    buf[..4].copy_from_slice(&assoc.to_ne_bytes());
    let mut len = libc::socklen_t::try_from(buf.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many addresses"))?;
    // SAFETY: `buf` is a live, writable buffer of `len` bytes for the whole
    // call; the kernel writes at most `len` bytes and updates `len`. Its
    // first 4 bytes name the association (0 on a one-to-one socket).
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            SOL_SCTP,
            SCTP_GET_PEER_ADDRS,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let filled = buf.get(..len as usize).unwrap_or(&buf);
    let count = filled
        .get(4..8)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let mut out = Vec::new();
    let mut at = HEAD;
    while out.len() < count.min(max) {
        let Some(family) = filled.get(at..at + 2) else {
            break;
        };
        let family = libc::sa_family_t::from_ne_bytes([family[0], family[1]]);
        if i32::from(family) == libc::AF_INET {
            let Some(a) = filled.get(at + 4..at + 8) else {
                break;
            };
            let port = filled
                .get(at + 2..at + 4)
                .map_or(0, |p| u16::from_be_bytes([p[0], p[1]]));
            out.push(SocketAddr::new(
                IpAddr::from([a[0], a[1], a[2], a[3]]),
                port,
            ));
            at += v4;
        } else if i32::from(family) == libc::AF_INET6 {
            let Some(a) = filled.get(at + 8..at + 24) else {
                break;
            };
            let mut b = [0u8; 16];
            b.copy_from_slice(a);
            let port = filled
                .get(at + 2..at + 4)
                .map_or(0, |p| u16::from_be_bytes([p[0], p[1]]));
            out.push(SocketAddr::new(IpAddr::from(b), port));
            at += v6;
        } else {
            break;
        }
    }
    Ok(out)
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
    use super::*;

    #[test]
    fn sndrcvinfo_has_the_kernel_layout() {
        // 3 x u16, 2 bytes of padding, 5 x u32, 1 x i32.
        assert_eq!(std::mem::size_of::<SctpSndRcvInfo>(), 32);
        assert_eq!(
            std::mem::offset_of!(SctpSndRcvInfo, sinfo_ppid),
            PPID_OFFSET
        );
    }

    #[test]
    fn cmsg_sizes_agree_with_libc() {
        let data = std::mem::size_of::<SctpSndRcvInfo>() as u32;
        // SAFETY: CMSG_SPACE and CMSG_LEN only compute with their argument.
        let (space, len) = unsafe { (libc::CMSG_SPACE(data), libc::CMSG_LEN(data)) };
        assert_eq!(SNDRCV_CMSG_SPACE, space as usize);
        let mut buf = [0u8; SNDRCV_CMSG_SPACE];
        encode_sndrcv_cmsg(7, &mut buf);
        let usz = std::mem::size_of::<usize>();
        assert_eq!(
            usize::from_ne_bytes(buf[..usz].try_into().unwrap()),
            len as usize
        );
    }

    #[test]
    fn the_sent_ppid_is_in_network_order_where_the_kernel_reads_it() {
        #[repr(C, align(8))]
        struct Buf([u8; SNDRCV_CMSG_SPACE]);
        let mut buf = Buf([0xff; SNDRCV_CMSG_SPACE]);
        let n = encode_sndrcv_cmsg(11, &mut buf.0);
        assert_eq!(n, SNDRCV_CMSG_SPACE);
        // Read it back through libc's own view of the header.
        // SAFETY: the buffer is size_t-aligned and holds a whole cmsghdr
        // followed by a whole sctp_sndrcvinfo (SNDRCV_CMSG_SPACE bytes).
        let (level, kind, info) = unsafe {
            let h = &*(buf.0.as_ptr().cast::<libc::cmsghdr>());
            let info = &*(libc::CMSG_DATA(h).cast::<SctpSndRcvInfo>());
            (h.cmsg_level, h.cmsg_type, info.sinfo_ppid)
        };
        assert_eq!((level, kind), (SOL_SCTP, SCTP_SNDRCV));
        assert_eq!(info, 11u32.to_be());
        assert_eq!(ppid_from_cmsgs(&buf.0), Some(11));
    }

    /// One synthetic control message as the kernel lays it out.
    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let usz = std::mem::size_of::<usize>();
        let mut v = vec![0u8; cmsg_align(CMSG_HEADER_LEN)];
        v[..usz].copy_from_slice(&(cmsg_align(CMSG_HEADER_LEN) + data.len()).to_ne_bytes());
        v[usz..usz + 4].copy_from_slice(&level.to_ne_bytes());
        v[usz + 4..usz + 8].copy_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize(cmsg_align(v.len()), 0);
        v
    }

    fn info_with_ppid(ppid: u32, len: usize) -> Vec<u8> {
        let mut d = vec![0u8; len];
        d[PPID_OFFSET..PPID_OFFSET + 4].copy_from_slice(&ppid.to_be_bytes());
        d
    }

    #[test]
    fn the_received_ppid_is_found_among_other_control_messages() {
        // An unrelated message first (odd length: padded), then SCTP_RCVINFO.
        let mut c = cmsg(libc::SOL_SOCKET, 99, &[1, 2, 3]);
        c.extend(cmsg(
            SOL_SCTP,
            SCTP_RCVINFO,
            &info_with_ppid(0x0102_0304, 28),
        ));
        assert_eq!(ppid_from_cmsgs(&c), Some(0x0102_0304));
        let c = cmsg(SOL_SCTP, SCTP_SNDRCV, &info_with_ppid(0, 32));
        assert_eq!(ppid_from_cmsgs(&c), Some(0));
    }

    #[test]
    fn a_one_to_many_send_names_its_association_and_flags() {
        #[repr(C, align(8))]
        struct Buf([u8; SNDRCV_CMSG_SPACE]);
        let mut buf = Buf([0; SNDRCV_CMSG_SPACE]);
        encode_many_cmsg(-7, 12, SCTP_EOF, &mut buf.0);
        // SAFETY: as above: an aligned, whole cmsghdr and sndrcvinfo.
        let info = unsafe {
            let h = &*(buf.0.as_ptr().cast::<libc::cmsghdr>());
            &*(libc::CMSG_DATA(h).cast::<SctpSndRcvInfo>())
        };
        assert_eq!(info.sinfo_assoc_id, -7);
        assert_eq!(info.sinfo_flags, SCTP_EOF);
        assert_eq!(info.sinfo_ppid, 12u32.to_be());
        assert_eq!(assoc_from_cmsgs(&buf.0), Some(-7));
        assert_eq!(ppid_from_cmsgs(&buf.0), Some(12));
    }

    #[test]
    fn association_changes_are_read_from_notifications() {
        let change = |state: u16, assoc: i32| {
            let mut n = Vec::new();
            n.extend_from_slice(&SCTP_ASSOC_CHANGE.to_ne_bytes());
            n.extend_from_slice(&0u16.to_ne_bytes());
            n.extend_from_slice(&20u32.to_ne_bytes());
            n.extend_from_slice(&state.to_ne_bytes());
            n.extend_from_slice(&[0; 6]);
            n.extend_from_slice(&assoc.to_ne_bytes());
            n
        };
        assert_eq!(
            parse_notification(&change(0, 5)),
            Some(ManyEvent::Up { assoc: 5 })
        );
        assert_eq!(
            parse_notification(&change(3, 5)),
            Some(ManyEvent::Down { assoc: 5 })
        );
        assert_eq!(
            parse_notification(&change(1, 9)),
            Some(ManyEvent::Down { assoc: 9 })
        );
        // Truncated, or another notification type.
        assert_eq!(parse_notification(&change(0, 5)[..18]), None);
        let mut other = change(0, 5);
        other[..2].copy_from_slice(&0x8002u16.to_ne_bytes());
        assert_eq!(parse_notification(&other), None);
    }

    #[test]
    fn malformed_control_buffers_give_no_ppid() {
        assert_eq!(ppid_from_cmsgs(&[]), None);
        assert_eq!(ppid_from_cmsgs(&[0; 7]), None);
        // A wrong level or type.
        assert_eq!(
            ppid_from_cmsgs(&cmsg(0, SCTP_SNDRCV, &info_with_ppid(5, 32))),
            None
        );
        // Too short to hold a PPID.
        assert_eq!(ppid_from_cmsgs(&cmsg(SOL_SCTP, SCTP_SNDRCV, &[0; 4])), None);
        // A length beyond the buffer, or shorter than a header (no endless loop).
        let mut c = cmsg(SOL_SCTP, SCTP_SNDRCV, &info_with_ppid(5, 32));
        let usz = std::mem::size_of::<usize>();
        c[..usz].copy_from_slice(&1000usize.to_ne_bytes());
        assert_eq!(ppid_from_cmsgs(&c), None);
        c[..usz].copy_from_slice(&0usize.to_ne_bytes());
        assert_eq!(ppid_from_cmsgs(&c), None);
        // Truncated after the header.
        let c = cmsg(SOL_SCTP, SCTP_SNDRCV, &info_with_ppid(5, 32));
        assert_eq!(ppid_from_cmsgs(&c[..20]), None);
    }
}
