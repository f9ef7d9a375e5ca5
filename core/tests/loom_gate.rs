//! Loom models of the gate: every interleaving (within the preemption bound)
//! of producers, runners and terminators over one actor's mailbox.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p goldfish-core --test loom_gate --release`.
//! Each test prints how many interleavings loom explored.
#![cfg(loom)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize as StdAtomic, Ordering as StdOrdering};

use goldfish_core::gate::{Closing, Gate, Notified, Released};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// One actor: its gate, its mailbox, and what became of each message.
struct Actor {
    gate: Gate,
    mailbox: Mutex<VecDeque<u32>>,
    /// Messages run by the actor, in order.
    ran: Mutex<Vec<u32>>,
    /// Messages taken back from a closed actor, to be routed elsewhere.
    returned: Mutex<Vec<u32>>,
    /// Runners inside a run right now (S1: never more than one).
    inside: AtomicUsize,
}

impl Actor {
    fn new() -> Arc<Actor> {
        Arc::new(Actor {
            gate: Gate::new(),
            mailbox: Mutex::new(VecDeque::new()),
            ran: Mutex::new(vec![]),
            returned: Mutex::new(vec![]),
            inside: AtomicUsize::new(0),
        })
    }

    fn pop(&self) -> Option<u32> {
        self.mailbox.lock().unwrap().pop_front()
    }

    fn run(&self, m: u32) {
        assert_eq!(
            self.inside.fetch_add(1, Ordering::AcqRel),
            0,
            "S1: two runners inside one actor"
        );
        self.ran.lock().unwrap().push(m);
        self.inside.fetch_sub(1, Ordering::AcqRel);
    }

    fn take_back(&self) {
        while let Some(m) = self.pop() {
            self.returned.lock().unwrap().push(m);
        }
    }

    /// The runner's loop: pop and run until empty, then release.
    fn run_loop(&self) {
        loop {
            while let Some(m) = self.pop() {
                self.run(m);
            }
            match self.gate.release() {
                Released::Idle => return,
                Released::Again => continue,
                Released::Closed => {
                    self.take_back();
                    return;
                }
            }
        }
    }

    /// A producer: push, then notify, then act on the answer.
    fn deliver(&self, m: u32) {
        self.mailbox.lock().unwrap().push_back(m);
        match self.gate.notify() {
            Notified::Claimed => self.run_loop(),
            Notified::Running => {}
            Notified::Closed => self.take_back(),
        }
    }

    /// After every thread has finished: each message was run or returned
    /// exactly once, and none is stranded in the mailbox of a live actor.
    fn check(&self, sent: &[u32]) {
        let ran = self.ran.lock().unwrap().clone();
        let returned = self.returned.lock().unwrap().clone();
        let mut all: Vec<u32> = ran.iter().chain(returned.iter()).copied().collect();
        all.sort_unstable();
        let mut want = sent.to_vec();
        want.sort_unstable();
        assert_eq!(all, want, "S3: ran {ran:?}, returned {returned:?}");
        assert!(!self.gate.is_running(), "a claim was never released");
        assert!(
            self.mailbox.lock().unwrap().is_empty(),
            "a message is stranded in the mailbox"
        );
    }
}

fn explore(name: &str, f: impl Fn() + Sync + Send + 'static) {
    static ITERATIONS: StdAtomic = StdAtomic::new(0);
    ITERATIONS.store(0, StdOrdering::SeqCst);
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(move || {
        ITERATIONS.fetch_add(1, StdOrdering::Relaxed);
        f();
    });
    println!(
        "loom {name}: {} interleavings explored",
        ITERATIONS.load(StdOrdering::SeqCst)
    );
}

#[test]
fn two_producers_enqueue_while_the_actor_completes() {
    explore("two producers vs completion", || {
        let a = Actor::new();
        // The actor is running message 0 when the producers arrive.
        a.mailbox.lock().unwrap().push_back(0);
        assert_eq!(a.gate.notify(), Notified::Claimed);
        let p1 = {
            let a = a.clone();
            thread::spawn(move || a.deliver(1))
        };
        let p2 = {
            let a = a.clone();
            thread::spawn(move || a.deliver(2))
        };
        a.run_loop();
        p1.join().unwrap();
        p2.join().unwrap();
        a.check(&[0, 1, 2]);
        assert!(a.returned.lock().unwrap().is_empty(), "nothing closed it");
        // Messages from one producer keep their order; all three ran.
        assert_eq!(a.ran.lock().unwrap().len(), 3);
    });
}

#[test]
fn two_schedulers_race_to_claim() {
    explore("two schedulers claim", || {
        let a = Actor::new();
        // A message sits in the mailbox of an idle actor (its producer handed
        // the wake-up to the schedulers); a third party delivers another.
        a.mailbox.lock().unwrap().push_back(1);
        let schedulers: Vec<_> = (0..2)
            .map(|_| {
                let a = a.clone();
                thread::spawn(move || {
                    if a.gate.try_claim() {
                        a.run_loop();
                        true
                    } else {
                        false
                    }
                })
            })
            .collect();
        a.deliver(2);
        let claims: usize = schedulers
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert!(claims <= 2);
        // Whoever held a claim drained the whole mailbox before releasing,
        // so message 1 ran even if the deliverer claimed first.
        a.check(&[1, 2]);
    });
}

#[test]
fn shutdown_races_a_delivery() {
    explore("shutdown vs delivery", || {
        let a = Actor::new();
        let producer = {
            let a = a.clone();
            thread::spawn(move || a.deliver(1))
        };
        match a.gate.close() {
            Closing::Closed => a.take_back(),
            Closing::Deferred | Closing::AlreadyClosed => {}
        }
        producer.join().unwrap();
        a.check(&[1]);
        assert!(a.gate.is_closed(), "shutdown always ends closed");
    });
}

#[test]
fn shutdown_races_a_delivery_to_a_running_actor() {
    explore("shutdown vs delivery, running", || {
        let a = Actor::new();
        a.mailbox.lock().unwrap().push_back(0);
        assert_eq!(a.gate.notify(), Notified::Claimed);
        let producer = {
            let a = a.clone();
            thread::spawn(move || a.deliver(1))
        };
        let terminator = {
            let a = a.clone();
            thread::spawn(move || match a.gate.close() {
                Closing::Closed => a.take_back(),
                Closing::Deferred | Closing::AlreadyClosed => {}
            })
        };
        a.run_loop();
        producer.join().unwrap();
        terminator.join().unwrap();
        a.check(&[0, 1]);
        assert!(a.gate.is_closed());
        assert_eq!(a.ran.lock().unwrap()[0], 0, "the running message finished");
    });
}

#[test]
fn idle_timeout_races_a_delivery() {
    explore("idle timeout vs delivery", || {
        let a = Actor::new();
        let producer = {
            let a = a.clone();
            thread::spawn(move || a.deliver(1))
        };
        // The idle timer only closes an idle actor, then takes back what a
        // producer pushed but had not yet notified.
        if a.gate.close_if_idle() {
            a.take_back();
        }
        producer.join().unwrap();
        a.check(&[1]);
        // Either it ran (the actor was claimed first) or it was returned.
        let ran = a.ran.lock().unwrap().len();
        let returned = a.returned.lock().unwrap().len();
        assert_eq!(ran + returned, 1);
        if returned == 1 {
            assert!(a.gate.is_closed());
        }
    });
}
