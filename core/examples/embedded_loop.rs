//! Driving goldfish-core from another scheduler: a single-threaded loop with
//! no async runtime, no heap (fixed arrays only) and a fake clock.
//!
//! The "actors" here are plain Rust counters instead of Wasm instances: the
//! point is that the LCM and SIM decisions (when to create an actor, which
//! one gets a message, when a message waits, when an idle actor goes) come
//! from `goldfish-core`, and the loop only carries them out.
//!
//! Run it with `cargo run -p goldfish-core --example embedded_loop`.

use goldfish_core::{
    Arrival, Decision, FixedDispatcher, FunctionId, Key, Limits, MessageId, MessageMeta, Output,
    Slot, Span, Target, Termination, Tick, Verdict,
};

/// The short-term state of one actor: a running count, kept between messages.
#[derive(Clone, Copy, Default)]
struct Counter {
    count: u32,
}

/// One message from the script: when it arrives, and for which key.
struct Event {
    at: u64,
    key: &'static str,
}

// Sensor readings for two fields, then silence, then one more for field "a":
// its actor has idled out by then and comes back with fresh state.
const SCRIPT: [Event; 7] = [
    Event { at: 0, key: "a" },
    Event { at: 0, key: "a" },
    Event { at: 1, key: "b" },
    Event { at: 2, key: "a" },
    Event { at: 3, key: "b" },
    Event { at: 4, key: "a" },
    Event {
        at: 9_000,
        key: "a",
    },
];

const LIMITS: Limits = Limits {
    idle: Span::from_millis(5),
    buffer_count: 8,
    buffer_bytes: 1 << 10,
    max_wait: Span::from_millis(1),
    max_instances: 4,
    max_attempts: 2,
    max_payload: 64,
};

fn main() {
    let function = FunctionId::new("counter").expect("a valid name");
    // Storage for 2 x max_instances actors and buffer_count + max_instances messages.
    let mut dispatcher: FixedDispatcher<8, 12> =
        FixedDispatcher::new(function, LIMITS, [None; 8], [None; 12]).expect("limits fit");
    let mut actors = [None::<Counter>; 8];
    // What each message's caller got back, indexed by message id.
    let mut replies = [None::<u32>; SCRIPT.len() + 1];
    // Runs the loop owes the actors: at most one per actor slot.
    let mut runs = [None::<MessageId>; 8];

    let mut now = Tick::ZERO;
    let mut next = 0;
    let mut created = 0;
    let mut terminated = 0;
    loop {
        // 1. Inputs due now: arrivals from the script.
        while next < SCRIPT.len() && Tick::from_millis(SCRIPT[next].at) <= now {
            let e = &SCRIPT[next];
            next += 1;
            let meta = MessageMeta {
                id: MessageId(next as u128),
                target: Target::Actor(function, Key::new(e.key).expect("a valid key")),
                session: None,
                bytes: 8,
                deadline: now.after(Span::from_secs(1)),
                attempt: 1,
            };
            let d = dispatcher
                .handle_arrival(now, &Arrival::local(meta))
                .expect("outputs are drained every turn");
            println!(
                "{:>8} ms  message {next} for {:<2} -> {d:?}",
                now.as_micros() / 1_000,
                e.key
            );
            assert!(d.is_accepted() || matches!(d, Decision::Reject(_)));
            drain(
                &mut dispatcher,
                now,
                &mut actors,
                &mut runs,
                &mut replies,
                &mut created,
                &mut terminated,
            );
        }
        // 2. Carry out the runs: the "guest" counts, then reports back.
        for slot in 0..runs.len() {
            if let Some(m) = runs[slot].take() {
                let state = actors[slot].as_mut().expect("a run goes to a live actor");
                state.count += 1;
                replies[m.0 as usize] = Some(state.count);
                dispatcher
                    .handle_finished(now, Slot(slot as u32), m)
                    .expect("the actor runs this message");
                drain(
                    &mut dispatcher,
                    now,
                    &mut actors,
                    &mut runs,
                    &mut replies,
                    &mut created,
                    &mut terminated,
                );
            }
        }
        if runs.iter().any(Option::is_some) {
            continue;
        }
        // 3. Nothing to run: jump the fake clock to the next thing that matters.
        let arrival = SCRIPT.get(next).map(|e| Tick::from_millis(e.at));
        let timer = dispatcher.poll_timeout();
        now = match (arrival, timer) {
            (Some(a), Some(t)) => a.min(t),
            (a, t) => match a.or(t) {
                Some(t) => t,
                None => break,
            },
        };
        dispatcher.handle_timeout(now).expect("drained");
        drain(
            &mut dispatcher,
            now,
            &mut actors,
            &mut runs,
            &mut replies,
            &mut created,
            &mut terminated,
        );
    }

    println!(
        "actors created: {created}, terminated: {terminated}, live: {}",
        dispatcher.live()
    );
    // Field a: four messages counted 1..4 by one warm actor, then a fresh one.
    assert_eq!(
        replies[1..],
        [
            Some(1),
            Some(2),
            Some(1),
            Some(3),
            Some(2),
            Some(4),
            Some(1)
        ]
    );
    assert_eq!((created, terminated, dispatcher.live()), (3, 3, 0));
    println!("ok: state survived between messages and every actor scaled to zero");
}

/// Polls every output and does what it says.
fn drain(
    d: &mut FixedDispatcher<8, 12>,
    now: Tick,
    actors: &mut [Option<Counter>; 8],
    runs: &mut [Option<MessageId>; 8],
    replies: &mut [Option<u32>],
    created: &mut u32,
    terminated: &mut u32,
) {
    while let Some(out) = d.poll_output() {
        match out {
            Output::Spawn { slot, actor } => {
                // "Instantiate": a fresh, empty state.
                actors[slot.index()] = Some(Counter::default());
                *created += 1;
                println!(
                    "{:>8} ms  spawn {actor} in slot {}",
                    now.as_micros() / 1_000,
                    slot.0
                );
                // Starting cannot fail here; report it straight away.
                d.handle_started(now, slot).expect("it was just created");
            }
            Output::Run { slot, message, .. } => runs[slot.index()] = Some(message),
            Output::Outcome { message, verdict } => {
                let reply = replies[message.0 as usize];
                println!(
                    "{:>8} ms  message {} -> {verdict:?} {reply:?}",
                    now.as_micros() / 1_000,
                    message.0
                );
                if verdict != Verdict::Replied {
                    replies[message.0 as usize] = None;
                }
            }
            Output::Terminated { slot, actor, cause } => {
                actors[slot.index()] = None;
                *terminated += 1;
                println!(
                    "{:>8} ms  terminated {actor} ({})",
                    now.as_micros() / 1_000,
                    cause.as_str()
                );
                assert_eq!(cause, Termination::Idle);
            }
        }
    }
}
