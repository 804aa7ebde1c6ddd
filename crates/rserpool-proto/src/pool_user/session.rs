//! One pool user session: which PE it talks to, the failover state
//! (cookie, business card, PEs that failed) and the messages waiting for
//! a PE.

use std::collections::VecDeque;
use std::fmt;

use crate::Time;
use crate::wire::{PeId, PoolElement, PoolHandle, TransportUse};

use crate::data_channel::Frame;

/// A session of a [`PoolUser`](super::PoolUser).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u32);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

/// A data association from the pool user to a PE, named by the state
/// machine.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeConn(pub u64);

impl fmt::Debug for PeConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeConn({})", self.0)
    }
}

/// Where a session stands, as [`PoolUser::session_state`](super::PoolUser::session_state) shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting for a handle resolution.
    Resolving,
    /// Connecting to a PE.
    Connecting {
        /// The data association.
        conn: PeConn,
        /// The PE.
        pe_id: PeId,
    },
    /// Talking to a PE.
    Up {
        /// The data association.
        conn: PeConn,
        /// The PE.
        pe_id: PeId,
    },
    /// No PE could be found; [`PoolUser::failover`](super::PoolUser::failover)
    /// tries again. Messages stay queued.
    Idle,
}

#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub pool_handle: PoolHandle,
    pub state: SessionState,
    pub connect_deadline: Option<Time>,
    /// The PE of the current (or last) association.
    pub pe: Option<PoolElement>,
    /// The last COOKIE the PE sent, replayed to the next one.
    pub cookie: Option<Vec<u8>>,
    /// The PEs of the last BUSINESS_CARD, preferred for failover.
    pub card: Vec<PoolElement>,
    pub queue: VecDeque<Frame>,
    pub queued_bytes: usize,
    /// PEs that failed during this selection; cleared once up.
    pub excluded: Vec<PeId>,
    /// The PE the session fails over from, while it does.
    pub failover_from: Option<PeId>,
    pub was_up: bool,
    /// A resolution was already asked for in this selection, so a second
    /// empty-handed round ends in `Idle` instead of asking again.
    pub resolved: bool,
    /// The application retried from idle (see `PoolUser::failover`).
    pub retry: bool,
}

impl Session {
    pub fn new(pool_handle: PoolHandle) -> Self {
        Session {
            pool_handle,
            state: SessionState::Resolving,
            connect_deadline: None,
            pe: None,
            cookie: None,
            card: Vec::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            excluded: Vec::new(),
            failover_from: None,
            was_up: false,
            resolved: false,
            retry: false,
        }
    }

    pub fn conn(&self) -> Option<PeConn> {
        match self.state {
            SessionState::Connecting { conn, .. } | SessionState::Up { conn, .. } => Some(conn),
            SessionState::Resolving | SessionState::Idle => None,
        }
    }

    /// Whether ASAP control messages share the association with data.
    pub fn control_channel(&self) -> bool {
        self.pe
            .as_ref()
            .is_some_and(|p| p.user_transport.transport_use() == TransportUse::DataPlusControl)
    }
}
