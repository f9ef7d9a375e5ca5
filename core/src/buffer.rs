//! The SIM buffer: the paper's `waiting`, `ready` and `done` queues for one
//! function on one node, with fixed capacity and byte accounting.
//!
//! Every accepted message has one [`Entry`] from acceptance until its outcome
//! has been drained. The entry's state says which queue it is in:
//!
//! - **waiting** ([`EntryState::Waiting`]): accepted, not yet given to an actor.
//!   Only these count against `buffer_count` and `buffer_bytes` (S4).
//! - **ready** ([`EntryState::Held`]): given to one actor, which is about to run
//!   it or is running it. At most one per actor.
//! - **done**: the message has a [`Verdict`] that [`Buffer::poll_verdict`] has
//!   not yet handed out. A message can be done while still held, when its
//!   deadline passes while it runs; it is then not reported a second time.
//!
//! Time comes in through [`Buffer::handle_timeout`]; [`Buffer::poll_timeout`]
//! says when it next matters.

use crate::ids::{MessageId, Slot};
use crate::limits::{Limits, LimitsError};
use crate::message::{MessageMeta, Target, Verdict};
use crate::slab::{Slab, Storage};
use crate::time::{Span, Tick};

/// A handle to one entry of a [`Buffer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryRef(pub(crate) u32);

/// Which queue an entry is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// Waiting for an actor.
    Waiting {
        /// When it started waiting.
        since: Tick,
        /// The actor it waits for (an addressed actor, or the instance holding
        /// its session), or `None` for any instance.
        pin: Option<Slot>,
        /// It has waited the max wait and no new instance could be created
        /// then; it now waits for a free slot or its deadline.
        overdue: bool,
    },
    /// Given to the actor in this slot (the ready queue, then running).
    Held(Slot),
    /// Finished with; kept only until its verdict has been drained.
    Released,
}

/// One accepted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The message.
    pub meta: MessageMeta,
    /// Acceptance order on this node; retries keep it (S6).
    pub seq: u64,
    /// Which queue it is in.
    pub state: EntryState,
    verdict: Option<Verdict>,
    reported: bool,
}

impl Entry {
    /// The outcome decided for it, if any.
    pub const fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// Whether it has an outcome (reported or about to be).
    pub const fn is_done(&self) -> bool {
        self.verdict.is_some()
    }

    /// Whether it waits, and for which actor.
    pub const fn waiting_pin(&self) -> Option<Option<Slot>> {
        match self.state {
            EntryState::Waiting { pin, .. } => Some(pin),
            _ => None,
        }
    }

    /// When it reaches the max wait, if that still matters (anycast, waiting,
    /// not yet overdue).
    fn wait_limit(&self, max_wait: Span) -> Option<Tick> {
        match (self.state, self.meta.target) {
            (
                EntryState::Waiting {
                    since,
                    overdue: false,
                    ..
                },
                Target::Function(_),
            ) => Some(since.after(max_wait)),
            _ => None,
        }
    }
}

/// The buffer has no room: the count or byte limit, or the storage, is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferFull;

/// What a [`Buffer::handle_timeout`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeoutReport {
    /// Messages that ended as Expired (waiting or held).
    pub expired: u32,
    /// Anycast messages that reached the max wait; see [`Buffer::next_overdue`].
    pub overdue: u32,
}

/// The waiting / ready / done queues of one function on one node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Buffer<S> {
    entries: Slab<Entry, S>,
    next_seq: u64,
    waiting: u32,
    waiting_bytes: u64,
    unreported: u32,
    count_limit: u32,
    bytes_limit: u64,
    max_wait: Span,
}

impl<S: Storage<Entry>> Buffer<S> {
    /// A buffer for `limits`. The storage needs a slot for every message that
    /// may wait plus one held by each actor: `buffer_count + max_instances`.
    pub fn new(storage: S, limits: &Limits) -> Result<Self, LimitsError> {
        let need = limits.buffer_count.saturating_add(limits.max_instances);
        let have = storage.as_ref().len();
        if have < need as usize {
            return Err(LimitsError::StorageTooSmall {
                what: "waiting",
                need,
                have,
            });
        }
        Ok(Buffer {
            entries: Slab::new(storage),
            next_seq: 0,
            waiting: 0,
            waiting_bytes: 0,
            unreported: 0,
            count_limit: limits.buffer_count,
            bytes_limit: limits.buffer_bytes,
            max_wait: limits.max_wait,
        })
    }

    /// Messages waiting.
    pub fn waiting_len(&self) -> u32 {
        self.waiting
    }

    /// Payload bytes waiting.
    pub fn waiting_bytes(&self) -> u64 {
        self.waiting_bytes
    }

    /// Messages with an outcome not yet drained (the done queue).
    pub fn done_len(&self) -> u32 {
        self.unreported
    }

    /// Every entry: waiting, held and done.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the buffer holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a message of `bytes` may wait now (S4).
    pub fn has_room(&self, bytes: u32) -> bool {
        self.waiting < self.count_limit
            && self.waiting_bytes.saturating_add(u64::from(bytes)) <= self.bytes_limit
    }

    /// The entry behind `r`.
    pub fn get(&self, r: EntryRef) -> Option<&Entry> {
        self.entries.get(r.0 as usize)
    }

    /// Every entry, in storage order.
    pub fn iter(&self) -> impl Iterator<Item = (EntryRef, &Entry)> + '_ {
        self.entries.iter().map(|(i, e)| (EntryRef(i as u32), e))
    }

    /// The entry holding message `id`, if any.
    pub fn find(&self, id: MessageId) -> Option<EntryRef> {
        self.iter().find(|(_, e)| e.meta.id == id).map(|(r, _)| r)
    }

    fn insert(&mut self, meta: MessageMeta, state: EntryState) -> Result<EntryRef, BufferFull> {
        let seq = self.next_seq;
        let i = self
            .entries
            .insert(Entry {
                meta,
                seq,
                state,
                verdict: None,
                reported: false,
            })
            .map_err(|_| BufferFull)?;
        self.next_seq += 1;
        Ok(EntryRef(i as u32))
    }

    /// Puts a newly accepted message in the waiting queue, if it has room.
    pub fn enqueue(
        &mut self,
        now: Tick,
        meta: MessageMeta,
        pin: Option<Slot>,
    ) -> Result<EntryRef, BufferFull> {
        if !self.has_room(meta.bytes) {
            return Err(BufferFull);
        }
        let r = self.insert(
            meta,
            EntryState::Waiting {
                since: now,
                pin,
                overdue: false,
            },
        )?;
        self.waiting += 1;
        self.waiting_bytes += u64::from(meta.bytes);
        Ok(r)
    }

    /// Records a newly accepted message that goes straight to an actor.
    pub fn hold(&mut self, meta: MessageMeta, slot: Slot) -> Result<EntryRef, BufferFull> {
        self.insert(meta, EntryState::Held(slot))
    }

    /// Forgets a held message that never reached an actor.
    pub fn discard(&mut self, r: EntryRef) {
        if let Some(e) = self.entries.get(r.0 as usize) {
            if let EntryState::Held(_) = e.state {
                self.entries.remove(r.0 as usize);
            }
        }
    }

    /// Gives a waiting (or held) message to the actor in `slot`.
    pub fn assign(&mut self, r: EntryRef, slot: Slot) {
        let Some(e) = self.entries.get_mut(r.0 as usize) else {
            return;
        };
        if let EntryState::Waiting { .. } = e.state {
            self.waiting -= 1;
            self.waiting_bytes -= u64::from(e.meta.bytes);
        }
        e.state = EntryState::Held(slot);
    }

    /// Changes which actor a waiting message waits for.
    pub fn repin(&mut self, r: EntryRef, to: Option<Slot>) {
        if let Some(Entry {
            state: EntryState::Waiting { pin, .. },
            ..
        }) = self.entries.get_mut(r.0 as usize)
        {
            *pin = to;
        }
    }

    /// Frees every waiting message pinned to `slot` for any instance (the
    /// actor in it has gone).
    pub fn unpin_all(&mut self, slot: Slot) {
        for (_, e) in self.entries.iter_mut() {
            if let EntryState::Waiting { pin, .. } = &mut e.state {
                if *pin == Some(slot) {
                    *pin = None;
                }
            }
        }
    }

    /// Bumps the attempt of a held message after its actor failed.
    pub fn retry(&mut self, r: EntryRef) {
        if let Some(e) = self.entries.get_mut(r.0 as usize) {
            e.meta.attempt = e.meta.attempt.saturating_add(1);
        }
    }

    /// Ends a held message with `verdict` (or silently, if it already has
    /// one, e.g. it expired while running).
    pub fn finish(&mut self, r: EntryRef, verdict: Verdict) {
        let i = r.0 as usize;
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        if let EntryState::Waiting { .. } = e.state {
            self.waiting -= 1;
            self.waiting_bytes -= u64::from(e.meta.bytes);
        }
        e.state = EntryState::Released;
        if e.verdict.is_none() {
            e.verdict = Some(verdict);
            self.unreported += 1;
        } else if e.reported {
            self.entries.remove(i);
        }
    }

    /// The oldest waiting message that `eligible` accepts.
    pub fn oldest_waiting(&self, mut eligible: impl FnMut(&Entry) -> bool) -> Option<EntryRef> {
        self.entries
            .iter()
            .filter(|(_, e)| matches!(e.state, EntryState::Waiting { .. }) && eligible(e))
            .min_by_key(|(_, e)| e.seq)
            .map(|(i, _)| EntryRef(i as u32))
    }

    /// The oldest anycast message that has waited the max wait.
    pub fn next_overdue(&self) -> Option<EntryRef> {
        self.oldest_waiting(|e| {
            matches!(
                (e.state, e.meta.target),
                (
                    EntryState::Waiting { overdue: true, .. },
                    Target::Function(_)
                )
            )
        })
    }

    /// The next instant the buffer cares about: a deadline, or a max wait
    /// (never [`Tick::NEVER`], which does not fire).
    pub fn poll_timeout(&self) -> Option<Tick> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries
            .iter()
            .filter_map(|(_, e)| match e.state {
                EntryState::Waiting { .. } => {
                    let d = e.meta.deadline;
                    Some(e.wait_limit(self.max_wait).map_or(d, |w| w.min(d)))
                }
                EntryState::Held(_) if e.verdict.is_none() => Some(e.meta.deadline),
                _ => None,
            })
            .filter(|&t| t != Tick::NEVER)
            .min()
    }

    /// Applies the clock: messages past their deadline end as Expired (a held
    /// one keeps its actor, which finishes without a second outcome); anycast
    /// messages that waited the max wait are marked overdue.
    pub fn handle_timeout(&mut self, now: Tick) -> TimeoutReport {
        let mut report = TimeoutReport::default();
        if self.entries.is_empty() {
            return report;
        }
        let max_wait = self.max_wait;
        for (_, e) in self.entries.iter_mut() {
            if e.verdict.is_none() && e.meta.deadline <= now {
                if let EntryState::Waiting { .. } = e.state {
                    self.waiting -= 1;
                    self.waiting_bytes -= u64::from(e.meta.bytes);
                    e.state = EntryState::Released;
                }
                e.verdict = Some(Verdict::Expired);
                self.unreported += 1;
                report.expired += 1;
                continue;
            }
            if e.wait_limit(max_wait).is_some_and(|w| w <= now) {
                if let EntryState::Waiting { overdue, .. } = &mut e.state {
                    *overdue = true;
                    report.overdue += 1;
                }
            }
        }
        report
    }

    /// Hands out the next outcome of the done queue.
    pub fn poll_verdict(&mut self) -> Option<(MessageId, Verdict)> {
        if self.unreported == 0 {
            return None;
        }
        let (i, e) = self
            .entries
            .iter_mut()
            .filter(|(_, e)| e.verdict.is_some() && !e.reported)
            .min_by_key(|(_, e)| e.seq)?;
        e.reported = true;
        let out = (e.meta.id, e.verdict?);
        let released = e.state == EntryState::Released;
        self.unreported -= 1;
        if released {
            self.entries.remove(i);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{FunctionId, Key};

    type Fixed = [Option<Entry>; 6];

    fn limits() -> Limits {
        Limits {
            buffer_count: 3,
            buffer_bytes: 100,
            max_wait: Span(10),
            max_instances: 3,
            ..Limits::default()
        }
    }

    fn msg(id: u128, bytes: u32, deadline: u64) -> MessageMeta {
        MessageMeta {
            id: MessageId(id),
            target: Target::Function(FunctionId::new("f").unwrap()),
            session: None,
            bytes,
            deadline: Tick(deadline),
            attempt: 1,
        }
    }

    fn buffer() -> Buffer<Fixed> {
        Buffer::new([None; 6], &limits()).unwrap()
    }

    #[test]
    fn storage_must_fit_the_limits() {
        let r = Buffer::new([None; 5], &limits());
        assert_eq!(
            r.err(),
            Some(LimitsError::StorageTooSmall {
                what: "waiting",
                need: 6,
                have: 5
            })
        );
    }

    #[test]
    fn count_and_byte_limits_hold() {
        let mut b = buffer();
        b.enqueue(Tick(0), msg(1, 60, 100), None).unwrap();
        assert_eq!(b.enqueue(Tick(0), msg(2, 41, 100), None), Err(BufferFull));
        b.enqueue(Tick(0), msg(2, 40, 100), None).unwrap();
        assert_eq!(b.waiting_bytes(), 100);
        assert_eq!(b.enqueue(Tick(0), msg(3, 1, 100), None), Err(BufferFull));
        b.enqueue(Tick(0), msg(3, 0, 100), None).unwrap();
        assert_eq!(b.enqueue(Tick(0), msg(4, 0, 100), None), Err(BufferFull));
        assert_eq!(b.waiting_len(), 3);
        // Held messages do not count against the limits.
        b.hold(msg(5, 50, 100), Slot(0)).unwrap();
        assert_eq!(b.waiting_len(), 3);
        let r = b.find(MessageId(1)).unwrap();
        b.assign(r, Slot(1));
        assert_eq!((b.waiting_len(), b.waiting_bytes()), (2, 40));
    }

    #[test]
    fn oldest_first_and_retries_keep_their_place() {
        let mut b = buffer();
        let a = b.enqueue(Tick(0), msg(1, 1, 100), Some(Slot(2))).unwrap();
        b.enqueue(Tick(1), msg(2, 1, 100), None).unwrap();
        assert_eq!(b.oldest_waiting(|_| true), Some(a));
        assert_eq!(
            b.oldest_waiting(|e| e.waiting_pin() == Some(None))
                .map(|r| b.get(r).unwrap().meta.id),
            Some(MessageId(2))
        );
        b.unpin_all(Slot(2));
        assert_eq!(b.get(a).unwrap().waiting_pin(), Some(None));
        b.assign(a, Slot(0));
        b.retry(a);
        assert_eq!(b.get(a).unwrap().meta.attempt, 2);
        assert_eq!(b.get(a).unwrap().seq, 0);
    }

    #[test]
    fn max_wait_then_deadline() {
        let mut b = buffer();
        b.enqueue(Tick(0), msg(1, 1, 50), None).unwrap();
        assert_eq!(b.poll_timeout(), Some(Tick(10)));
        assert_eq!(b.handle_timeout(Tick(9)), TimeoutReport::default());
        assert_eq!(
            b.handle_timeout(Tick(10)),
            TimeoutReport {
                expired: 0,
                overdue: 1
            }
        );
        assert_eq!(b.next_overdue(), b.find(MessageId(1)));
        // Overdue and still waiting: now only its deadline matters.
        assert_eq!(b.poll_timeout(), Some(Tick(50)));
        assert_eq!(
            b.handle_timeout(Tick(50)),
            TimeoutReport {
                expired: 1,
                overdue: 0
            }
        );
        assert_eq!(b.waiting_len(), 0);
        assert_eq!(b.done_len(), 1);
        assert_eq!(b.poll_verdict(), Some((MessageId(1), Verdict::Expired)));
        assert_eq!(b.poll_verdict(), None);
        assert!(b.is_empty());
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn addressed_messages_have_no_max_wait() {
        let mut b = buffer();
        let mut m = msg(1, 1, 50);
        m.target = Target::Actor(FunctionId::new("f").unwrap(), Key::new("k").unwrap());
        b.enqueue(Tick(0), m, Some(Slot(0))).unwrap();
        assert_eq!(b.poll_timeout(), Some(Tick(50)));
    }

    #[test]
    fn a_message_that_expires_while_held_reports_once() {
        let mut b = buffer();
        let r = b.hold(msg(1, 1, 20), Slot(0)).unwrap();
        assert_eq!(b.poll_timeout(), Some(Tick(20)));
        assert_eq!(b.handle_timeout(Tick(20)).expired, 1);
        assert_eq!(b.poll_timeout(), None);
        assert_eq!(b.poll_verdict(), Some((MessageId(1), Verdict::Expired)));
        assert_eq!(b.len(), 1, "still held by its actor");
        b.finish(r, Verdict::Replied);
        assert_eq!(b.poll_verdict(), None);
        assert!(b.is_empty());
    }
}
