//! The safety properties of DESIGN.md section 4, checked on the system under
//! test after every step, and its agreement with the reference model.
//!
//! S1, S5 and S6 are also checked output by output in `Sut::drain`, and S3's
//! "no second outcome" there too; S2 is cluster-wide and belongs to the host.

use std::collections::BTreeMap;

use goldfish_core::buffer::EntryState;
use goldfish_core::{ActorKey, MessageId, Phase, Slot, Target};

use crate::reference::Model;
use crate::sut::Sut;

/// The dispatcher did exactly what the reference model says.
pub fn agrees_with_reference(sut: &Sut, model: &Model) {
    assert_eq!(sut.now, model.now, "clock");
    assert_eq!(sut.decision, model.decision, "decision");
    let mut got: Vec<String> = sut.outputs.iter().map(|o| format!("{o:?}")).collect();
    let mut want: Vec<String> = model.outputs.iter().map(|o| format!("{o:?}")).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "outputs");
    let actors: Vec<_> = sut
        .d
        .actors()
        .map(|a| {
            (
                a.slot.index(),
                a.id.key,
                a.phase,
                a.since,
                a.disposition,
                a.job.map(|m| m.0),
                a.messages,
            )
        })
        .collect();
    let expected: Vec<_> = model
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            a.as_ref().map(|a| {
                (
                    i,
                    a.key,
                    a.phase,
                    a.since,
                    a.disposition,
                    a.job.as_ref().map(|m| m.id),
                    a.messages,
                )
            })
        })
        .collect();
    assert_eq!(actors, expected, "actors");
    let waiting: Vec<_> = model
        .waiting
        .iter()
        .map(|m| (m.id, m.pin, m.overdue, m.attempt))
        .collect();
    assert_eq!(sut.waiting(), waiting, "waiting queue");
    assert_eq!(sut.d.poll_timeout(), model.next_timeout(), "next timeout");
    assert_eq!(sut.d.live(), model.live(), "live actors");
}

/// S1: at most one message runs in an actor, and only a Running actor runs one.
pub fn s1_one_message_at_a_time(sut: &Sut) {
    for a in sut.d.actors() {
        let announced = sut.record.running.get(&a.slot);
        match a.phase {
            Phase::Running => assert_eq!(announced.copied(), a.job, "S1: {a:?}"),
            _ => assert!(
                announced.is_none(),
                "S1: {a:?} is not running but has a run"
            ),
        }
    }
}

/// S3: every accepted message without an outcome is in exactly one place:
/// waiting in the buffer, or held by exactly one live actor.
pub fn s3_nothing_lost(sut: &Sut) {
    let mut holders: BTreeMap<MessageId, Vec<Slot>> = BTreeMap::new();
    for a in sut.d.actors() {
        if let Some(m) = a.job {
            holders.entry(m).or_default().push(a.slot);
        }
    }
    let buffer = sut.d.buffer();
    for &m in sut.record.accepted.keys() {
        let outcomes = sut.record.outcomes.get(&m).copied().unwrap_or(0);
        if outcomes > 0 {
            continue;
        }
        let entry = buffer.find(m).and_then(|r| buffer.get(r));
        let held = holders.get(&m).map_or(0, Vec::len);
        match entry.map(|e| e.state) {
            Some(EntryState::Waiting { .. }) => assert_eq!(held, 0, "S3: {m} waits and is held"),
            Some(EntryState::Held(s)) => {
                assert_eq!(held, 1, "S3: {m} is held by {held} actors");
                assert_eq!(holders[&m], [s], "S3: {m} held by the wrong slot");
            }
            other => panic!("S3: accepted message {m} is lost ({other:?})"),
        }
    }
}

/// S4: the waiting queue keeps within its count and byte limits.
pub fn s4_buffer_limits(sut: &Sut) {
    let l = sut.d.limits();
    let b = sut.d.buffer();
    assert!(
        b.waiting_len() <= l.buffer_count,
        "S4: {} waiting",
        b.waiting_len()
    );
    assert!(
        b.waiting_bytes() <= l.buffer_bytes,
        "S4: {} bytes waiting",
        b.waiting_bytes()
    );
    let (n, bytes) = b
        .iter()
        .filter(|(_, e)| matches!(e.state, EntryState::Waiting { .. }))
        .fold((0u32, 0u64), |(n, s), (_, e)| {
            (n + 1, s + u64::from(e.meta.bytes))
        });
    assert_eq!(
        (n, bytes),
        (b.waiting_len(), b.waiting_bytes()),
        "S4: accounting"
    );
}

/// S5: terminated actors are gone (reported and dropped) and held nothing;
/// every actor the host knows of is live in the dispatcher, and no more.
pub fn s5_terminated_hold_nothing(sut: &Sut) {
    let live: BTreeMap<Slot, ActorKey> = sut.d.actors().map(|a| (a.slot, a.id.key)).collect();
    assert_eq!(
        live, sut.record.alive,
        "S5: live actors vs what the host was told"
    );
    for a in sut.d.actors() {
        assert_ne!(a.phase, Phase::Terminated, "S5: unreported termination");
    }
    for (_, e) in sut.d.buffer().iter() {
        if let EntryState::Waiting { pin: Some(s), .. } = e.state {
            assert!(
                live.contains_key(&s),
                "S5: a message waits for dead slot {s:?}"
            );
        }
    }
}

/// S7: an actor terminated for idleness had been Suspended for its idle time,
/// and nothing waits that it could have taken.
pub fn s7_idle_only_when_idle(sut: &Sut) {
    let idle = sut.d.limits().idle;
    for &(slot, key, since) in &sut.record.idle_terminations {
        let since = since.unwrap_or_else(|| panic!("S7: {slot:?} was not Suspended"));
        assert!(
            sut.now.since(since) >= idle,
            "S7: {slot:?} idle for {} < {idle}",
            sut.now.since(since)
        );
        assert!(
            !sut.record.spawned_keys.contains(&key) || matches!(key, ActorKey::Instance(_)),
            "S7: {key:?} terminated for idleness and re-created at once"
        );
        for (_, e) in sut.d.buffer().iter() {
            let EntryState::Waiting { pin, .. } = e.state else {
                continue;
            };
            let eligible = match (key, e.meta.target) {
                (ActorKey::Keyed(k), Target::Actor(_, mk)) => k == mk,
                (ActorKey::Instance(_), Target::Function(_)) => pin.is_none(),
                _ => false,
            };
            assert!(
                !eligible,
                "S7: {key:?} idled out while {} waited for it",
                e.meta.id
            );
        }
    }
}

/// Every check, after every step.
pub fn all(sut: &Sut, model: &Model) {
    agrees_with_reference(sut, model);
    s1_one_message_at_a_time(sut);
    s3_nothing_lost(sut);
    s4_buffer_limits(sut);
    s5_terminated_hold_nothing(sut);
    s7_idle_only_when_idle(sut);
}
