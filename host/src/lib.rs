//! # goldfish-host
//!
//! The GoldFish node: functions deployed as WebAssembly modules run as
//! actors (wasmi instances that keep their memory between messages), driven
//! by goldfish-core's LCM and SIM state machines.
//!
//! | module | the paper's part |
//! |---|---|
//! | [`actor`](crate::node) (private) | Actor: a wasmi instance, its store and host interface |
//! | `dispatcher` | Actor Dispatcher: carries out core's decisions for one function |
//! | `buffer` | GoldFish Buffer's clock: core's `poll_timeout` / `handle_timeout` on a real timer |
//! | `middleware` | GoldFish Middleware: routes messages to the node that runs them |
//! | [`registry`] | Registry: which node has which function and actor |
//!
//! ## Determinism contract
//!
//! Unlike core, this crate touches the world: it reads the clock (only in
//! `clock.rs`), spawns tokio tasks (timers, forwarded messages, calls that
//! must wait), runs guest code on the threads that invoke it, and talks to
//! other nodes through a [`Transport`](goldfish_core::transport::Transport).
//! Every decision about a message is still core's, made under a per-function
//! lock that is never held while a guest runs.
//!
//! ## Using it
//!
//! See [`Node`]: `Node::builder().build()`, `deploy`, `invoke`, `send`,
//! `actors`, `shutdown`. The guest ABI is `spec/abi.md`; the SDK for Rust
//! guests is `goldfish-guest`.

mod abi;
mod actor;
mod buffer;
pub mod clock;
pub mod config;
mod dispatcher;
pub mod guests;
pub mod http;
mod membership;
mod metrics;
mod middleware;
mod node;
pub mod node_config;
pub mod registry;
pub mod state;
mod stats;

pub use abi::AbiError;
pub use config::{ConfigError, FunctionConfig};
pub use dispatcher::ActorStatus;
pub use node::{BuildError, Call, DeployError, Node, NodeBuilder};
pub use registry::{
    FunctionCapacity, Lease, MemRegistry, NodeInfo, RedisRegistry, Registry, RegistryError,
};
pub use state::{MemStateStore, RedisStateStore, StateError, StateStore};
pub use stats::{FunctionStats, Latency};
