//! # goldfish-core
//!
//! The state machines of GoldFish, the serverless platform whose functions run
//! as WebAssembly actors with short-term memory: the **LCM** (lifecycle model,
//! [`phase`]), the **SIM** (invocation model, [`sim`], with its [`buffer`]),
//! their composition for one function on one node ([`dispatcher`]), the
//! one-message-at-a-time claim a multi-threaded scheduler runs actors with
//! ([`gate`]), and, with the `alloc` feature, the [`wire`] types nodes exchange.
//!
//! ## Determinism contract
//!
//! - **No clock.** Time is a [`Tick`] the caller passes into every call;
//!   [`Dispatcher::poll_timeout`] says when to call again. Nothing here reads
//!   the time, sleeps or spawns.
//! - **No I/O, no threads.** Inputs go in through `handle_*`, decisions come out
//!   of `poll_*`; the caller does the work (instantiate, run, reply). The only
//!   shared-memory code is [`gate`], a single atomic word.
//! - **No heap in transitions.** The default build is `#![no_std]` without
//!   `alloc`: ids are inline strings, storage is caller-provided slices sized
//!   once ([`FixedDispatcher`] over arrays). The `alloc` feature adds the wire
//!   types and storage allocated once at construction; transitions still never
//!   allocate.
//! - **Same inputs, same outputs.** Every function is deterministic in its
//!   inputs, which is what lets proptest, the model checker and replayed
//!   traces drive the very code a node runs.
//! - **No panics on input.** An illegal event is a typed error; a rejection or
//!   an expiry is a value; malformed bytes are a [`wire::WireError`].
//!
//! ## Features
//!
//! - `alloc`: [`wire`] (postcard), the [`transport`] traits and [`HeapDispatcher`].
//! - `serde`: serde derives on ids, limits and decisions.
//! - `std`: `std::error::Error` for the error types.
#![no_std]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod buffer;
pub mod dispatcher;
pub mod gate;
pub mod ids;
pub mod limits;
mod loom;
pub mod message;
pub mod phase;
pub mod retry;
pub mod sim;
pub mod slab;
pub mod time;
#[cfg(feature = "alloc")]
pub mod transport;
#[cfg(feature = "alloc")]
pub mod wire;

#[cfg(feature = "alloc")]
pub use dispatcher::HeapDispatcher;
pub use dispatcher::{ActorInfo, DispatchError, Dispatcher, FixedDispatcher, Output, Termination};
pub use ids::{ActorId, ActorKey, FunctionId, IdError, Key, MessageId, NodeId, Slot};
pub use limits::{Limits, LimitsError};
pub use message::{
    Disposition, FaultKind, MessageMeta, RejectReason, Target, TargetError, Verdict,
};
pub use phase::{Effect, Lifecycle, LifecycleError, LifecycleEvent, Phase};
pub use sim::{Arrival, Decision, Elsewhere, Queue};
pub use time::{Span, Tick};
