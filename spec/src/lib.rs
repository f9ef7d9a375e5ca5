//! # goldfish-spec
//!
//! Model checks of goldfish-core's LCM (lifecycle) and SIM (invocation)
//! state machines. Everything here drives core's REAL transition functions:
//! the [`Dispatcher`](goldfish_core::Dispatcher)'s `handle_*` inputs,
//! `set_disposition` and `poll_output`; nothing re-implements them.
//!
//! ## What is checked
//!
//! 1. **An exhaustive model check** ([`model`], with [stateright]): every
//!    interleaving of what the environment may do (a client sending messages
//!    of every kind, instances starting or failing to, guests finishing,
//!    trapping or setting a disposition, the clock reaching each timeout,
//!    shutdown, eviction and restore) up to a bound, on a
//!    [`FixedDispatcher`](goldfish_core::FixedDispatcher) and a host that
//!    drives it ([`world`]). In every reachable state it checks S1, S3
//!    (no duplicate, nothing lost), S4, S5, S7 and the host's call contract;
//!    on every path that ends it checks that every accepted message got its
//!    outcome (S3, liveness) and that every actor was terminated and the
//!    buffer emptied (scale to zero). See [`properties`].
//! 2. **The checks bite** ([`broken`]): for each property a host that
//!    misbehaves in one precise way, which the checker must catch with a
//!    counterexample for exactly the properties it breaks.
//! 3. **A Quint model** (`spec/goldfish.qnt`): the protocol written to be
//!    read, with the same invariants and named scenarios. Its `quint run
//!    --mbt` traces (`spec/traces/*.itf.json`) are replayed through core
//!    ([`replay`]), comparing the whole state after every step; every action
//!    of the model must appear in the committed traces.
//!
//! ## Running
//!
//! - `cargo test -p goldfish-spec --release`: the CI bound ([`model::Bound::ci`],
//!   about 5.6 million distinct states, half a minute on 2 cores), the broken
//!   hosts and the trace replay. A debug build (`cargo test --workspace`)
//!   checks the smaller [`model::Bound::quick`].
//! - `GOLDFISH_SPEC_BOUND=large cargo test -p goldfish-spec --release --test
//!   model_check -- --nocapture`: three messages of any kind (about 41 million
//!   distinct states, 5 minutes). `GOLDFISH_SPEC_MESSAGES`,
//!   `GOLDFISH_SPEC_CLIENT`, `GOLDFISH_SPEC_CLOCKS`, `GOLDFISH_SPEC_SHUTDOWN`
//!   and `GOLDFISH_SPEC_EVICTIONS` choose any other bound
//!   ([`model::Bound::from_env`]).
//! - In `spec/`: `npm ci`, then `npx quint test --backend typescript
//!   goldfish.qnt` (the scenarios) and `npx quint run --backend typescript
//!   --invariant safety goldfish.qnt` (random runs); `./gen-traces.sh`
//!   rewrites the committed traces. `spec/README.md` has the details.
//!
//! ## Shared constants
//!
//! The limits (`MAX_INSTANCES`, `BUFFER_COUNT`, `BUFFER_BYTES`, `MAX_WAIT`,
//! `IDLE`, `MAX_ATTEMPTS`, `MAX_PAYLOAD`) and the client's messages (sizes,
//! time to live, key, session) live in ONE file, `spec/constants.qnt`. The
//! Quint model imports it; [`constants`] parses its `pure val NAME = VALUE`
//! lines and builds core's [`Limits`](goldfish_core::Limits) from them, for
//! the model check and the replay alike.
//!
//! ## Determinism
//!
//! No clock, no randomness, no I/O beyond reading the committed trace files:
//! time is core's `Tick`, moved by the model's actions.

pub mod broken;
pub mod constants;
pub mod itf;
pub mod model;
pub mod properties;
pub mod replay;
pub mod world;
