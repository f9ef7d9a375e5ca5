//! The safety properties of DESIGN.md section 4 (S1, S3, S4, S5, S7) and the
//! liveness of section 4's last paragraph, as checks on a [`World`]: core's
//! dispatcher seen through its public getters (`actors()`, `buffer()`,
//! `live()`) plus what the host was told through the output stream.
//!
//! Each check returns `Err(explanation)` when it fails. The stateright model
//! turns them into properties ([`crate::model`]); the Quint trace replay runs
//! them after every step too.

use goldfish_core::buffer::EntryState;
use goldfish_core::{ActorKey, MessageId, Phase, Target};

use crate::constants::Constants;
use crate::world::{message_id, World};

/// A check's verdict.
pub type Check = Result<(), String>;

/// S1: at most one message runs in an actor at a time. The host runs at most
/// one message per slot and no message in two slots; a Running actor runs
/// exactly the message the host was told to run, and an actor in any other
/// phase runs nothing.
pub fn s1_one_message_at_a_time(w: &World) -> Check {
    for (i, r) in w.host.runs.iter().enumerate() {
        for other in &w.host.runs[i + 1..] {
            if other.slot == r.slot {
                return Err(format!(
                    "slot {} runs {} and {} at once",
                    r.slot.0, r.message.0, other.message.0
                ));
            }
            if other.message == r.message {
                return Err(format!(
                    "message {} runs in slots {} and {}",
                    r.message.0, r.slot.0, other.slot.0
                ));
            }
        }
    }
    for a in w.d.actors() {
        let run = w.run_in(a.slot).map(|r| r.message);
        match a.phase {
            Phase::Running if run != a.job => {
                return Err(format!(
                    "actor in slot {} runs {:?}, the host runs {run:?}",
                    a.slot.0, a.job
                ))
            }
            Phase::Running => {}
            p if run.is_some() => {
                return Err(format!(
                    "actor in slot {} is {p} but the host runs {run:?} in it",
                    a.slot.0
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// S3 (safety): no caller hears twice, and only callers of accepted messages
/// hear at all.
pub fn s3_no_duplicate_outcome(w: &World) -> Check {
    for (i, s) in w.host.messages.iter().enumerate() {
        if s.outcomes > 1 {
            return Err(format!("message {} got {} outcomes", i + 1, s.outcomes));
        }
        if s.outcomes > 0 && !s.accepted {
            return Err(format!("message {} got an outcome but was refused", i + 1));
        }
    }
    Ok(())
}

/// S3 (nothing lost): every accepted message without an outcome is in
/// exactly one place: waiting in the buffer and held by no actor, or held by
/// exactly one live actor; a message whose outcome core decided has reached
/// its caller.
pub fn s3_nothing_lost(w: &World) -> Check {
    let buffer = w.d.buffer();
    for (i, s) in w.host.messages.iter().enumerate() {
        if !s.accepted || s.outcomes > 0 {
            continue;
        }
        let m = message_id(i + 1);
        let holders: Vec<_> = w.d.actors().filter(|a| a.job == Some(m)).collect();
        let entry = buffer.find(m).and_then(|r| buffer.get(r));
        match entry {
            Some(e) if e.is_done() => {
                return Err(format!(
                    "message {} ended as {:?} but its caller never heard",
                    m.0,
                    e.verdict()
                ))
            }
            Some(e) => match e.state {
                EntryState::Waiting { .. } if holders.is_empty() => {}
                EntryState::Held(slot)
                    if holders.len() == 1
                        && holders[0].slot == slot
                        && holders[0].phase.is_live() => {}
                state => {
                    return Err(format!(
                        "message {} is {state:?} and held by {} actors",
                        m.0,
                        holders.len()
                    ))
                }
            },
            None => return Err(format!("accepted message {} is lost", m.0)),
        }
    }
    Ok(())
}

/// S3 (liveness), true once the run is over for the callers: every message
/// was sent, and every accepted one got its outcome. It is stable (once true
/// it stays true), which is what stateright's `eventually` needs.
pub fn s3_every_outcome_delivered(w: &World, messages: usize) -> bool {
    w.host.messages.len() >= messages
        && w.host
            .messages
            .iter()
            .all(|s| !s.accepted || s.outcomes >= 1)
}

/// S4: the waiting queue keeps within its count and byte limits, counting
/// the payloads' real sizes, and core's accounting matches its entries.
pub fn s4_buffer_within_limits(w: &World, c: &Constants) -> Check {
    let b = w.d.buffer();
    let (mut n, mut accounted, mut real) = (0u32, 0u64, 0u64);
    for (_, e) in b.iter() {
        if let EntryState::Waiting { .. } = e.state {
            n += 1;
            accounted += u64::from(e.meta.bytes);
            real += u64::from(w.sent(e.meta.id).map_or(e.meta.bytes, |s| s.bytes));
        }
    }
    if (n, accounted) != (b.waiting_len(), b.waiting_bytes()) {
        return Err(format!(
            "core counts {} waiting / {} bytes, its entries {n} / {accounted}",
            b.waiting_len(),
            b.waiting_bytes()
        ));
    }
    if n > c.limits.buffer_count {
        return Err(format!(
            "{n} messages wait, the limit is {}",
            c.limits.buffer_count
        ));
    }
    if real > c.limits.buffer_bytes {
        return Err(format!(
            "{real} bytes wait, the limit is {}",
            c.limits.buffer_bytes
        ));
    }
    Ok(())
}

/// S5: a terminated actor holds no message and receives none. Terminated
/// actors are reported and gone; the host's instances are exactly the live
/// actors; no run is in flight in a slot with no live actor, and no message
/// waits for one.
pub fn s5_terminated_hold_nothing(w: &World) -> Check {
    let live: Vec<_> = w.d.actors().map(|a| (a.slot, a.id.key)).collect();
    let host: Vec<_> = w.host.instances.iter().map(|i| (i.slot, i.key)).collect();
    if live != host {
        return Err(format!(
            "live actors {live:?}, the host's instances {host:?}"
        ));
    }
    if let Some(a) = w.d.actors().find(|a| a.phase == Phase::Terminated) {
        return Err(format!(
            "terminated actor in slot {} not reported",
            a.slot.0
        ));
    }
    for r in &w.host.runs {
        if !live.iter().any(|(s, _)| *s == r.slot) {
            return Err(format!(
                "message {} runs in slot {}, which holds no live actor",
                r.message.0, r.slot.0
            ));
        }
    }
    for (_, e) in w.d.buffer().iter() {
        if let EntryState::Waiting { pin: Some(s), .. } = e.state {
            if !live.iter().any(|(l, _)| *l == s) {
                return Err(format!(
                    "message {} waits for slot {}, which holds no live actor",
                    e.meta.id.0, s.0
                ));
            }
        }
    }
    Ok(())
}

/// S7: an actor terminated for idleness in the last step had been Suspended
/// for at least its idle time by the host's clock, nothing waits that it
/// would have taken, and an addressed one was not re-created at once.
pub fn s7_idle_only_when_idle(w: &World, c: &Constants) -> Check {
    let now = w.host.now;
    for end in &w.host.idle_ends {
        let Some(since) = end.suspended_at else {
            return Err(format!(
                "slot {} idled out without being Suspended",
                end.slot.0
            ));
        };
        if now.since(since) < c.limits.idle {
            return Err(format!(
                "slot {} idled out after {} (Suspended at {}, now {}), the idle time is {}",
                end.slot.0,
                now.since(since),
                since.0,
                now.0,
                c.limits.idle
            ));
        }
        for (_, e) in w.d.buffer().iter() {
            let EntryState::Waiting { pin, .. } = e.state else {
                continue;
            };
            let eligible = match (end.key, e.meta.target) {
                (ActorKey::Keyed(k), Target::Actor(_, mk)) => k == mk,
                (ActorKey::Instance(_), Target::Function(_)) => pin.is_none(),
                _ => false,
            };
            if eligible {
                return Err(format!(
                    "slot {} idled out while message {} waited for it",
                    end.slot.0, e.meta.id.0
                ));
            }
        }
        if let ActorKey::Keyed(_) = end.key {
            if w.host.instances.iter().any(|i| i.key == end.key) {
                return Err(format!(
                    "{:?} idled out and was re-created at once",
                    end.key
                ));
            }
        }
    }
    Ok(())
}

/// Liveness: everything comes to rest. Every message was sent and every
/// accepted one answered, no actor is left (scale to zero), the buffer is
/// empty and nothing runs. Stable once true.
pub fn everything_settles(w: &World, messages: usize) -> bool {
    s3_every_outcome_delivered(w, messages)
        && w.d.live() == 0
        && w.d.buffer().is_empty()
        && w.host.runs.is_empty()
        && w.host.instances.is_empty()
}

/// The host's calls all kept the dispatcher's contract (no input was refused,
/// every output fit what the host knew).
pub fn contract_kept(w: &World) -> Check {
    match w.host.contract {
        None => Ok(()),
        Some(why) => Err(why.to_string()),
    }
}

/// Every safety check, for the trace replay: the first that fails.
pub fn all_safety(w: &World, c: &Constants) -> Check {
    contract_kept(w)?;
    s1_one_message_at_a_time(w).map_err(|e| format!("S1: {e}"))?;
    s3_no_duplicate_outcome(w).map_err(|e| format!("S3: {e}"))?;
    s3_nothing_lost(w).map_err(|e| format!("S3: {e}"))?;
    s4_buffer_within_limits(w, c).map_err(|e| format!("S4: {e}"))?;
    s5_terminated_hold_nothing(w).map_err(|e| format!("S5: {e}"))?;
    s7_idle_only_when_idle(w, c).map_err(|e| format!("S7: {e}"))
}

/// The ids of accepted messages without an outcome.
pub fn unanswered(w: &World) -> Vec<MessageId> {
    w.host
        .messages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.accepted && s.outcomes == 0)
        .map(|(i, _)| message_id(i + 1))
        .collect()
}
