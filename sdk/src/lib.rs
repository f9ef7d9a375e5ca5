//! Write GoldFish actors in Rust.
//!
//! A GoldFish function is a WebAssembly module, and every actor is one
//! instance of it. The instance's memory lives from one message to the next,
//! so whatever your actor keeps in its fields is its *short-term state*: it
//! survives between messages until the platform terminates the actor (it
//! chose [`Disposition::Stop`], sat idle too long, or failed a message).
//!
//! You write a type that implements [`Actor`] (and [`Default`], which makes
//! the state for the first message), and export it with [`export_actor!`]:
//!
//! ```
//! use goldfish_guest::{export_actor, Actor, Context, Error};
//!
//! /// Counts the messages it has handled and replies with the count.
//! #[derive(Default)]
//! struct Counter {
//!     seen: u64,
//! }
//!
//! impl Actor for Counter {
//!     fn handle(&mut self, _ctx: &mut Context, _input: &[u8]) -> Result<Vec<u8>, Error> {
//!         self.seen += 1;
//!         Ok(self.seen.to_string().into_bytes())
//!     }
//! }
//!
//! export_actor!(Counter);
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-unknown-unknown` (see
//! `examples/README.md` in the repository). The module then has exactly the
//! interface of the guest ABI (`spec/abi.md`): it exports `memory`,
//! `gf_alloc` and `gf_handle`, and imports only functions of the `goldfish`
//! module.
//!
//! # What happens to a message
//!
//! * The first message creates the actor with `Default::default()`; the value
//!   then stays in a static for the life of the instance.
//! * [`Actor::handle`] gets the payload and a [`Context`] through which it can
//!   [`send`](Context::send), [`call`](Context::call), choose what comes
//!   [`next`](Context::next), read its [`session`](Context::session) and
//!   [`self_id`](Context::self_id), [`log`](Context::log) and read the clock
//!   ([`now_ms`](Context::now_ms)).
//! * `Ok(bytes)` becomes the message's reply. `Err(error)` is logged at error
//!   level and fails the message (the platform may retry it on a fresh
//!   instance, which starts again from `Default`). A panic traps, which fails
//!   the message the same way.
//!
//! `gf_handle` returns `0` on success, `1` when the actor returned an error,
//! `2` when the payload pointer is not the buffer `gf_alloc` handed out, and
//! `3` when it is entered while already running.
//!
//! # Testing natively
//!
//! Compiled for anything but wasm32 the imports are replaced by an in-process
//! mock host, [`testing::Mock`], so `cargo test` can drive an actor message by
//! message, script the results of its calls and look at what it sent.
//!
//! The crate is `no_std` (it needs only `alloc`) and builds with Rust 1.63.
#![no_std]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

mod context;
mod error;
mod export;
mod names;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use context::{Context, Disposition, Level};
pub use error::{CallError, Error};
pub use names::{valid_session_key, valid_target, MAX_FUNCTION_LEN, MAX_KEY_LEN};

use alloc::vec::Vec;

/// An actor: the state one instance keeps, and what it does with a message.
///
/// The platform creates the actor with [`Default::default`] when the first
/// message arrives and keeps it, with everything in its fields, until the
/// actor is terminated.
pub trait Actor: Default {
    /// Handles one message whose payload is `input`.
    ///
    /// `Ok(reply)` is sent to the caller as the reply (empty for none).
    /// `Err` fails the message: it is logged at error level and the host
    /// treats it like a trap (retry on a fresh instance, then `Failed`).
    fn handle(&mut self, ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error>;

    /// The actor's state as bytes, for a function deployed `stateless`.
    ///
    /// A warm actor keeps its state in memory and this is never called. A
    /// function deployed with `stateless = true` (a new instance per message:
    /// the stateless FaaS pattern GoldFish is measured against) loses its
    /// memory after every message; when the node has a state store (Redis),
    /// it calls this after each successful message and stores the bytes, and
    /// hands them to [`Actor::load_state`] of the next instance before its
    /// message. `None` (the default): nothing to keep. Export it with
    /// `export_actor!(MyActor, state)`.
    fn save_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Restores what [`Actor::save_state`] returned, on a fresh actor, before
    /// its message. An `Err` fails the message like an error from `handle`.
    fn load_state(&mut self, state: &[u8]) -> Result<(), Error> {
        let _ = state;
        Ok(())
    }
}

/// Exports an [`Actor`] type as the GoldFish guest ABI.
///
/// Use it once, at the root of a `cdylib` crate:
///
/// ```
/// # use goldfish_guest::{export_actor, Actor, Context, Error};
/// #[derive(Default)]
/// struct Echo;
///
/// impl Actor for Echo {
///     fn handle(&mut self, _ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
///         Ok(input.to_vec())
///     }
/// }
///
/// export_actor!(Echo);
/// ```
///
/// It generates the two exported functions of the ABI:
///
/// * `gf_alloc(len: i32) -> i32` hands out a buffer of `len` bytes for the
///   next payload (`0` if it cannot be allocated);
/// * `gf_handle(ptr: i32, len: i32) -> i32` takes that buffer back, runs
///   [`Actor::handle`] on the actor kept in a static (created with
///   [`Default`] on the first message), sets the reply and returns `0`, or a
///   non-zero code on error.
///
/// `export_actor!(MyActor, state)` also exports `gf_state_save` and
/// `gf_state_load` (from [`Actor::save_state`] and [`Actor::load_state`]), for
/// an actor whose function may be deployed `stateless` with a state store; an
/// actor with nothing to remember leaves them out, and the host then never
/// goes to the store for it.
///
/// On targets other than wasm32 the functions exist too, but pointers do not
/// fit an `i32` there: drive the actor with [`testing::Mock`] instead.
#[macro_export]
macro_rules! export_actor {
    ($actor:ty, state $(,)?) => {
        $crate::export_actor!($actor);

        /// GoldFish ABI (stateless functions only): the state as `ptr << 32 | len`.
        #[no_mangle]
        pub extern "C" fn gf_state_save() -> i64 {
            $crate::__private::state_save(&__GF_ACTOR)
        }

        /// GoldFish ABI (stateless functions only): restores the state at `ptr..ptr+len`.
        #[no_mangle]
        pub extern "C" fn gf_state_load(ptr: i32, len: i32) -> i32 {
            $crate::__private::state_load(&__GF_ACTOR, ptr, len)
        }
    };
    ($actor:ty $(,)?) => {
        /// GoldFish ABI: a buffer for the next message's payload (`0`: cannot).
        #[no_mangle]
        pub extern "C" fn gf_alloc(len: i32) -> i32 {
            $crate::__private::alloc(len)
        }

        static __GF_ACTOR: $crate::__private::Slot<$actor> = $crate::__private::Slot::new();

        /// GoldFish ABI: handles the message whose payload is at `ptr..ptr+len`.
        #[no_mangle]
        pub extern "C" fn gf_handle(ptr: i32, len: i32) -> i32 {
            $crate::__private::handle(&__GF_ACTOR, ptr, len)
        }
    };
}

/// Used by [`export_actor!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{alloc, handle, state_load, state_save, Slot};
}
