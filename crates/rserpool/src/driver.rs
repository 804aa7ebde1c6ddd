//! The loop every runtime driver runs around its sans-IO state machine
//! (registrar, pool element, pool user): wait for inputs, the machine's
//! timer or another source (commands, API calls), read the clock once,
//! hand everything to the machine, then carry out what it asked for.
//!
//! What it saves per wake-up, since every message pays it:
//! - one clock read per batch of inputs, not one per input (in a VM
//!   without a usable TSC every read is a system call);
//! - every input already queued is taken in the same wake-up
//!   ([`mpsc::Receiver::recv_many`]), so a burst costs one pass;
//! - one timer kept across wake-ups: it is re-armed only when the
//!   machine's deadline moves earlier. A deadline that moved later (a
//!   re-registration pushing a lifetime out) leaves it armed; it then
//!   fires early once, finds nothing due and is re-armed, which is far
//!   rarer than a timer reset per message.

use rserpool_proto::Time;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

/// Most inputs taken in one wake-up before the machine's timers and
/// transmits get their turn.
const BATCH: usize = 256;

/// The runtime's clock: the state machines count time from the driver's
/// start, as microseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub(crate) fn start() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    /// The machine time now (one clock read).
    pub(crate) fn now(&self) -> Time {
        Time::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// The instant of a machine time.
    pub(crate) fn instant(&self, t: Time) -> Instant {
        self.origin + Duration::from_micros(t.as_micros())
    }
}

/// Why [`EventLoop::next`] returned.
pub(crate) enum Wake<C> {
    /// Inputs arrived; [`EventLoop::drain`] gives them, oldest first.
    Inputs(Time),
    /// The machine's deadline passed (or an earlier one that has since
    /// moved later: the machine finds nothing due then).
    Timeout(Time),
    /// The other source gave this.
    Other(C, Time),
    /// Every input sender is gone.
    Closed,
}

/// The wait of a driver: its input channel, its timer and its clock.
pub(crate) struct EventLoop<I> {
    clock: Clock,
    inputs: mpsc::Receiver<I>,
    batch: Vec<I>,
    timer: Pin<Box<Sleep>>,
    /// The deadline `timer` is armed for, if any.
    armed: Option<Instant>,
}

impl<I> EventLoop<I> {
    /// A loop over `inputs` with a clock starting at `clock`.
    pub(crate) fn new(clock: Clock, inputs: mpsc::Receiver<I>) -> Self {
        EventLoop {
            clock,
            inputs,
            batch: Vec::with_capacity(BATCH),
            timer: Box::pin(tokio::time::sleep_until(clock.origin)),
            armed: None,
        }
    }

    /// Waits for the next wake-up: inputs, the machine's `deadline`, or
    /// `other` (a cancel-safe future, made anew for every call; it is
    /// dropped when something else comes first). When several are ready
    /// one is picked at random, so none starves the others.
    pub(crate) async fn next<C>(
        &mut self,
        deadline: Option<Time>,
        other: impl Future<Output = C>,
    ) -> Wake<C> {
        let deadline = deadline.map(|t| self.clock.instant(t));
        match (deadline, self.armed) {
            (Some(d), Some(a)) if d >= a => {}
            (Some(d), _) => {
                self.timer.as_mut().reset(d);
                self.armed = Some(d);
            }
            (None, _) => self.armed = None,
        }
        let armed = self.armed.is_some();
        tokio::select! {
            () = self.timer.as_mut(), if armed => {
                self.armed = None;
                Wake::Timeout(self.clock.now())
            }
            n = self.inputs.recv_many(&mut self.batch, BATCH) => {
                if n == 0 {
                    Wake::Closed
                } else {
                    Wake::Inputs(self.clock.now())
                }
            }
            c = other => Wake::Other(c, self.clock.now()),
        }
    }

    /// The inputs of the last [`Wake::Inputs`].
    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, I> {
        self.batch.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn inputs_come_in_one_batch_and_timers_fire_once_due() {
        let (tx, rx) = mpsc::channel(16);
        let mut lp = EventLoop::new(Clock::start(), rx);
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        let never = std::future::pending::<()>;
        assert!(matches!(lp.next(None, never()).await, Wake::Inputs(_)));
        assert_eq!(lp.drain().collect::<Vec<_>>(), vec![0, 1, 2]);
        // A deadline 10 ms ahead, then one moved later: the armed timer
        // fires at the first.
        let at = Time::from_micros(10_000);
        let Wake::Timeout(now) = lp.next(Some(at), never()).await else {
            panic!("expected the timer");
        };
        assert!(now >= at);
        let later = Time::from_micros(now.as_micros() + 50_000);
        let Wake::Timeout(t) = lp.next(Some(later), never()).await else {
            panic!("expected the timer");
        };
        assert!(t >= later);
        // An earlier deadline re-arms the timer.
        let far = Time::from_micros(t.as_micros() + 1_000_000);
        let near = Time::from_micros(t.as_micros() + 1_000);
        let other = async { tokio::time::sleep(Duration::from_millis(100)).await };
        assert!(matches!(
            lp.next(Some(far), other).await,
            Wake::Other((), _)
        ));
        let Wake::Timeout(t2) = lp.next(Some(near), never()).await else {
            panic!("expected the timer");
        };
        assert!(t2 >= near && t2.as_micros() < far.as_micros());
        drop(tx);
        assert!(matches!(lp.next(None, never()).await, Wake::Closed));
    }
}
