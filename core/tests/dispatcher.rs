//! The dispatcher's behaviour, scenario by scenario, with a fake clock.

use goldfish_core::dispatcher::{DispatchError, FixedDispatcher, Output, Termination};
use goldfish_core::{
    ActorKey, Arrival, Decision, Disposition, FaultKind, FunctionId, Key, Limits, MessageId,
    MessageMeta, Phase, Queue, RejectReason, Slot, Span, Target, Tick, Verdict,
};

const LIMITS: Limits = Limits {
    idle: Span(1_000),
    buffer_count: 4,
    buffer_bytes: 400,
    max_wait: Span(100),
    max_instances: 2,
    max_attempts: 3,
    max_payload: 100,
};

struct H {
    d: FixedDispatcher<4, 6>,
    now: Tick,
    next_id: u128,
    /// Outputs polled before an input, kept for the next `drain`.
    backlog: Vec<Output>,
}

impl H {
    fn new() -> H {
        H::with(LIMITS)
    }

    fn with(limits: Limits) -> H {
        H {
            d: FixedDispatcher::new(f(), limits, [None; 4], [None; 6]).unwrap(),
            now: Tick(0),
            next_id: 0,
            backlog: vec![],
        }
    }

    /// Every output since the last `drain`.
    fn drain(&mut self) -> Vec<Output> {
        self.poll();
        std::mem::take(&mut self.backlog)
    }

    /// Polls outputs into the backlog so the next input is allowed.
    fn poll(&mut self) {
        while let Some(o) = self.d.poll_output() {
            self.backlog.push(o);
        }
    }

    fn arrive(&mut self, target: Target, session: Option<&str>) -> (MessageId, Decision) {
        self.next_id += 1;
        let id = MessageId(self.next_id);
        let m = MessageMeta {
            id,
            target,
            session: session.map(k),
            bytes: 10,
            deadline: self.now.after(Span(10_000)),
            attempt: 1,
        };
        self.poll();
        let d = self.d.handle_arrival(self.now, &Arrival::local(m)).unwrap();
        (id, d)
    }

    fn any(&mut self) -> (MessageId, Decision) {
        self.arrive(Target::Function(f()), None)
    }

    fn to(&mut self, key: &str) -> (MessageId, Decision) {
        self.arrive(Target::Actor(f(), k(key)), None)
    }

    fn at(&mut self, t: u64) {
        self.now = Tick(t);
        self.poll();
        self.d.handle_timeout(self.now).unwrap();
    }

    fn start(&mut self, slot: Slot) {
        self.poll();
        self.d.handle_started(self.now, slot).unwrap();
    }

    fn finish(&mut self, slot: Slot, m: MessageId) {
        self.poll();
        self.d.handle_finished(self.now, slot, m).unwrap();
    }
}

fn f() -> FunctionId {
    FunctionId::new("f").unwrap()
}
fn k(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn spawned(out: &[Output]) -> Vec<Slot> {
    out.iter()
        .filter_map(|o| match o {
            Output::Spawn { slot, .. } => Some(*slot),
            _ => None,
        })
        .collect()
}

fn runs(out: &[Output]) -> Vec<(Slot, MessageId, u32)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Run {
                slot,
                message,
                attempt,
                ..
            } => Some((*slot, *message, *attempt)),
            _ => None,
        })
        .collect()
}

fn outcomes(out: &[Output]) -> Vec<(MessageId, Verdict)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Outcome { message, verdict } => Some((*message, *verdict)),
            _ => None,
        })
        .collect()
}

fn terminated(out: &[Output]) -> Vec<(Slot, Termination)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Terminated { slot, cause, .. } => Some((*slot, *cause)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_warm_actor_is_reused_and_keeps_serving() {
    let mut h = H::new();
    let (m1, d) = h.any();
    assert_eq!(d, Decision::Spawn);
    let out = h.drain();
    assert_eq!(spawned(&out), [Slot(0)]);
    h.start(Slot(0));
    assert_eq!(runs(&h.drain()), [(Slot(0), m1, 1)]);
    h.finish(Slot(0), m1);
    assert_eq!(outcomes(&h.drain()), [(m1, Verdict::Replied)]);
    let (m2, d) = h.any();
    assert_eq!(d, Decision::Deliver(Slot(0)));
    assert_eq!(runs(&h.drain()), [(Slot(0), m2, 1)]);
    h.finish(Slot(0), m2);
    h.drain();
    let a = h.d.actor(Slot(0)).unwrap();
    assert_eq!(
        (a.phase, a.messages, a.id.key),
        (Phase::Suspended, 2, ActorKey::Instance(0))
    );
    assert_eq!(h.d.live(), 1);
}

#[test]
fn a_busy_actors_messages_wait_and_run_in_order() {
    let mut h = H::new();
    let (m1, _) = h.to("a");
    h.drain();
    h.start(Slot(0));
    h.drain();
    let (m2, d2) = h.to("a");
    let (m3, d3) = h.to("a");
    assert_eq!(d2, Decision::Enqueue(Queue::Actor(Slot(0))));
    assert_eq!(d3, Decision::Enqueue(Queue::Actor(Slot(0))));
    assert_eq!(h.d.buffer().waiting_len(), 2);
    h.finish(Slot(0), m1);
    let out = h.drain();
    assert_eq!(outcomes(&out), [(m1, Verdict::Replied)]);
    assert_eq!(runs(&out), [(Slot(0), m2, 1)]);
    h.finish(Slot(0), m2);
    assert_eq!(runs(&h.drain()), [(Slot(0), m3, 1)]);
    assert_eq!(h.d.buffer().waiting_len(), 0);
}

#[test]
fn two_keys_get_two_actors_and_a_key_never_gets_a_second() {
    let mut h = H::new();
    assert_eq!(h.to("a").1, Decision::Spawn);
    assert_eq!(h.to("b").1, Decision::Spawn);
    let out = h.drain();
    assert_eq!(spawned(&out), [Slot(0), Slot(1)]);
    // Both slots used: a third key waits for one to free up.
    assert_eq!(h.to("c").1, Decision::Enqueue(Queue::Function));
    assert_eq!(h.to("a").1, Decision::Enqueue(Queue::Actor(Slot(0))));
    let keys: Vec<_> = h.d.actors().map(|a| a.id.key).collect();
    assert_eq!(keys, [ActorKey::Keyed(k("a")), ActorKey::Keyed(k("b"))]);
}

#[test]
fn the_wait_limit_spawns_a_new_instance() {
    let mut h = H::new();
    let (m1, _) = h.any();
    h.drain();
    h.start(Slot(0));
    h.drain();
    h.at(10);
    let (m2, d) = h.any();
    assert_eq!(d, Decision::Enqueue(Queue::Function));
    assert_eq!(h.d.poll_timeout(), Some(Tick(110)));
    h.at(109);
    assert!(h.drain().is_empty());
    h.at(110);
    assert_eq!(spawned(&h.drain()), [Slot(1)]);
    h.start(Slot(1));
    assert_eq!(runs(&h.drain()), [(Slot(1), m2, 1)]);
    h.finish(Slot(0), m1);
    h.finish_drain();
}

impl H {
    fn finish_drain(&mut self) {
        self.drain();
    }
}

#[test]
fn overload_is_rejected_and_nothing_accepted_is_lost() {
    let mut h = H::new();
    let mut accepted = vec![];
    let mut rejected = 0;
    for i in 0..10 {
        let (m, d) = if i % 2 == 0 { h.any() } else { h.to("a") };
        match d {
            Decision::Reject(RejectReason::Overloaded) => rejected += 1,
            d if d.is_accepted() => accepted.push(m),
            d => panic!("unexpected {d:?}"),
        }
        h.drain();
    }
    assert!(rejected > 0);
    assert_eq!(h.d.buffer().waiting_len(), LIMITS.buffer_count);
    // Run everything to completion: every accepted message gets one outcome.
    let mut seen = vec![];
    let mut pending: Vec<Output> = vec![];
    for s in [Slot(0), Slot(1)] {
        h.start(s);
        pending.extend(h.drain());
    }
    while let Some(o) = pending.pop() {
        match o {
            Output::Run { slot, message, .. } => {
                h.finish(slot, message);
                pending.extend(h.drain());
            }
            Output::Spawn { slot, .. } => {
                h.start(slot);
                pending.extend(h.drain());
            }
            Output::Outcome { message, verdict } => {
                assert_eq!(verdict, Verdict::Replied);
                seen.push(message);
            }
            Output::Terminated { .. } => {}
        }
    }
    seen.sort();
    accepted.sort();
    assert_eq!(seen, accepted);
}

#[test]
fn an_idle_actor_is_terminated_after_its_idle_time_and_comes_back_fresh() {
    let mut h = H::new();
    let (m1, _) = h.to("a");
    h.drain();
    h.start(Slot(0));
    h.drain();
    h.at(50);
    h.finish(Slot(0), m1);
    h.drain();
    assert_eq!(h.d.poll_timeout(), Some(Tick(1_050)));
    h.at(1_049);
    assert!(h.drain().is_empty());
    h.at(1_050);
    assert_eq!(terminated(&h.drain()), [(Slot(0), Termination::Idle)]);
    assert_eq!(h.d.live(), 0);
    assert_eq!(h.d.poll_timeout(), None);
    assert_eq!(h.to("a").1, Decision::Spawn);
    h.drain();
    assert_eq!(
        h.d.actor(Slot(0)).unwrap().messages,
        0,
        "a fresh activation"
    );
}

#[test]
fn refuse_routes_new_messages_to_another_instance() {
    let mut h = H::new();
    let (m1, _) = h.any();
    h.drain();
    h.start(Slot(0));
    h.drain();
    h.d.set_disposition(Slot(0), Disposition::Refuse).unwrap();
    assert_eq!(h.any().1, Decision::Spawn);
    assert_eq!(spawned(&h.drain()), [Slot(1)]);
    h.finish(Slot(0), m1);
    h.drain();
    // Refuse ends with the run.
    assert_eq!(h.d.actor(Slot(0)).unwrap().disposition, Disposition::Any);
}

#[test]
fn refuse_on_an_addressed_actor_rejects_as_busy() {
    let mut h = H::new();
    h.to("a");
    h.drain();
    h.start(Slot(0));
    h.drain();
    h.d.set_disposition(Slot(0), Disposition::Refuse).unwrap();
    assert_eq!(h.to("a").1, Decision::Reject(RejectReason::Busy));
    assert_eq!(h.d.live(), 1);
}

#[test]
fn stop_terminates_and_queued_messages_get_a_fresh_activation() {
    let mut h = H::new();
    let (m1, _) = h.to("a");
    h.drain();
    h.start(Slot(0));
    h.drain();
    h.d.set_disposition(Slot(0), Disposition::Stop).unwrap();
    let (m2, d) = h.to("a");
    assert_eq!(d, Decision::Enqueue(Queue::Actor(Slot(0))));
    h.finish(Slot(0), m1);
    let out = h.drain();
    assert_eq!(terminated(&out), [(Slot(0), Termination::Stopped)]);
    assert_eq!(outcomes(&out), [(m1, Verdict::Replied)]);
    let s = spawned(&out);
    assert_eq!(s.len(), 1);
    h.start(s[0]);
    assert_eq!(runs(&h.drain()), [(s[0], m2, 1)]);
}

#[test]
fn a_fault_retries_on_a_fresh_instance_then_fails() {
    let mut h = H::new();
    let (m1, _) = h.any();
    let mut slot = spawned(&h.drain())[0];
    for attempt in 1..=3 {
        h.start(slot);
        assert_eq!(runs(&h.drain()), [(slot, m1, attempt)]);
        h.poll();
        h.d.handle_fault(h.now, slot, m1, FaultKind::Trap).unwrap();
        let out = h.drain();
        assert_eq!(
            terminated(&out),
            [(slot, Termination::Fault(FaultKind::Trap))]
        );
        if attempt < 3 {
            assert!(outcomes(&out).is_empty());
            let s = spawned(&out);
            assert_eq!(s.len(), 1);
            assert_ne!(s[0], slot, "a fresh instance");
            slot = s[0];
        } else {
            assert_eq!(outcomes(&out), [(m1, Verdict::Failed(FaultKind::Trap))]);
            assert!(spawned(&out).is_empty());
        }
    }
    assert_eq!(h.d.live(), 0);
}

#[test]
fn an_actor_that_idles_forever_sets_no_timeout() {
    // `Span::FOREVER` idle saturates the deadline at `Tick::NEVER`, which is
    // no timeout at all: a host must not arm a timer for it.
    let mut h = H::with(Limits {
        idle: Span::FOREVER,
        ..LIMITS
    });
    let (m1, _) = h.to("a");
    h.drain();
    h.start(Slot(0));
    h.drain();
    h.at(50);
    h.finish(Slot(0), m1);
    h.drain();
    assert_eq!(h.d.live(), 1);
    assert_eq!(h.d.poll_timeout(), None);
    // A message with a finite deadline still sets one.
    h.to("b");
    assert_eq!(h.d.poll_timeout(), Some(Tick(10_050)));
}

#[test]
fn a_start_failure_counts_as_an_attempt() {
    let mut h = H::with(Limits {
        max_attempts: 1,
        ..LIMITS
    });
    let (m1, _) = h.to("a");
    h.drain();
    h.d.handle_start_failed(h.now, Slot(0), FaultKind::StartFailed)
        .unwrap();
    let out = h.drain();
    assert_eq!(
        outcomes(&out),
        [(m1, Verdict::Failed(FaultKind::StartFailed))]
    );
    assert_eq!(
        terminated(&out),
        [(Slot(0), Termination::Fault(FaultKind::StartFailed))]
    );
}

#[test]
fn deadlines_expire_waiting_and_running_messages_once() {
    let mut h = H::new();
    let (m1, _) = h.to("a");
    h.drain();
    h.start(Slot(0));
    h.drain();
    let (m2, _) = h.to("a");
    assert_eq!(h.d.poll_timeout(), Some(Tick(10_000)), "both deadlines");
    h.at(10_000);
    let out = h.drain();
    let mut got = outcomes(&out);
    got.sort_by_key(|(m, _)| *m);
    assert_eq!(got, [(m1, Verdict::Expired), (m2, Verdict::Expired)]);
    // The running one finishes later: no second outcome.
    h.finish(Slot(0), m1);
    assert!(outcomes(&h.drain()).is_empty());
    assert!(h.d.buffer().is_empty());
}

#[test]
fn a_message_past_its_deadline_is_not_accepted() {
    let mut h = H::new();
    let m = MessageMeta {
        id: MessageId(99),
        target: Target::Function(f()),
        session: None,
        bytes: 1,
        deadline: Tick(0),
        attempt: 1,
    };
    assert_eq!(
        h.d.handle_arrival(Tick(0), &Arrival::local(m)).unwrap(),
        Decision::Reject(RejectReason::DeadlinePassed)
    );
    assert!(h.drain().is_empty());
}

#[test]
fn shutdown_drains_then_terminates_everything() {
    let mut h = H::new();
    let (m1, _) = h.to("a");
    let (m2, _) = h.any();
    let out = h.drain();
    assert_eq!(spawned(&out), [Slot(0), Slot(1)]);
    h.start(Slot(0));
    h.start(Slot(1));
    h.drain();
    let (m3, _) = h.to("a");
    h.poll();
    h.d.handle_shutdown(h.now).unwrap();
    assert!(h.drain().is_empty());
    assert_eq!(h.any().1, Decision::Reject(RejectReason::ShuttingDown));
    h.finish(Slot(1), m2);
    let out = h.drain();
    assert_eq!(terminated(&out), [(Slot(1), Termination::Shutdown)]);
    h.finish(Slot(0), m1);
    assert_eq!(
        runs(&h.drain()),
        [(Slot(0), m3, 1)],
        "queued work still runs"
    );
    assert!(!h.d.is_drained());
    h.finish(Slot(0), m3);
    let out = h.drain();
    assert_eq!(terminated(&out), [(Slot(0), Termination::Shutdown)]);
    assert!(h.d.is_drained());
}

#[test]
fn a_session_sticks_to_the_instance_that_asked_for_it() {
    let mut h = H::new();
    let (m1, _) = h.arrive(Target::Function(f()), Some("s"));
    h.drain();
    h.start(Slot(0));
    h.drain();
    h.d.set_disposition(Slot(0), Disposition::Session(k("s")))
        .unwrap();
    let (m2, d) = h.arrive(Target::Function(f()), Some("s"));
    assert_eq!(d, Decision::Enqueue(Queue::Actor(Slot(0))));
    h.finish(Slot(0), m1);
    assert_eq!(runs(&h.drain()), [(Slot(0), m2, 1)]);
    h.finish(Slot(0), m2);
    h.drain();
    // Other messages go elsewhere only when it is busy; idle, it takes them.
    assert_eq!(h.any().1, Decision::Deliver(Slot(0)));
}

#[test]
fn broken_calls_are_typed_errors() {
    let mut h = H::new();
    let (m1, _) = h.any();
    let m = MessageMeta {
        id: m1,
        target: Target::Function(f()),
        session: None,
        bytes: 1,
        deadline: Tick(10),
        attempt: 1,
    };
    assert_eq!(
        h.d.handle_arrival(Tick(0), &Arrival::local(m)),
        Err(DispatchError::OutputsPending)
    );
    h.drain();
    let m = MessageMeta { id: m1, ..m };
    assert_eq!(
        h.d.handle_arrival(Tick(0), &Arrival::local(m)),
        Err(DispatchError::DuplicateMessage(m1))
    );
    let other = MessageMeta {
        id: MessageId(1_000),
        target: Target::Function(FunctionId::new("g").unwrap()),
        ..m
    };
    assert!(matches!(
        h.d.handle_arrival(Tick(0), &Arrival::local(other)),
        Err(DispatchError::WrongFunction { .. })
    ));
    assert_eq!(
        h.d.handle_finished(Tick(0), Slot(0), m1),
        Err(DispatchError::WrongMessage {
            slot: Slot(0),
            running: None,
            got: m1
        })
    );
    assert_eq!(
        h.d.handle_started(Tick(0), Slot(3)),
        Err(DispatchError::NoSuchActor(Slot(3)))
    );
    h.start(Slot(0));
    h.drain();
    assert!(matches!(
        h.d.handle_started(Tick(0), Slot(0)),
        Err(DispatchError::Lifecycle(_))
    ));
}

#[test]
fn eviction_removes_addressed_actors_and_bars_them_until_restored() {
    let mut h = H::new();
    let (m1, _) = h.to("a");
    let (m2, _) = h.to("b");
    h.drain();
    h.start(Slot(0));
    h.start(Slot(1));
    h.drain();
    h.finish(Slot(1), m2);
    h.drain();
    let (m3, d) = h.to("a");
    assert_eq!(d, Decision::Enqueue(Queue::Actor(Slot(0))));
    let (m4, _) = h.any();
    h.poll();
    h.d.handle_evict(h.now).unwrap();
    let out = h.drain();
    // b was Suspended: gone at once; a runs on, its queued message fails.
    assert_eq!(terminated(&out), [(Slot(1), Termination::Evicted)]);
    assert!(outcomes(&out).contains(&(m3, Verdict::Failed(FaultKind::NodeLost))));
    assert_eq!(h.to("a").1, Decision::Reject(RejectReason::Unavailable));
    assert!(h.any().1.is_accepted(), "anycast is unaffected");
    h.finish(Slot(0), m1);
    let out = h.drain();
    assert_eq!(terminated(&out), [(Slot(0), Termination::Evicted)]);
    assert!(
        outcomes(&out).contains(&(m1, Verdict::Replied)),
        "the running message finished"
    );
    h.poll();
    h.d.handle_restore(h.now).unwrap();
    assert_eq!(h.to("a").1, Decision::Spawn);
    let _ = m4;
}
