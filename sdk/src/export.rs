//! What `export_actor!` expands to: the payload buffer handed out by
//! `gf_alloc`, the static that keeps the actor, and the message loop body.

use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::context::{Context, Level};
use crate::{sys, Actor};

/// `gf_handle`'s return code: the message was handled.
pub(crate) const STATUS_OK: i32 = 0;
/// `gf_handle`'s return code: the actor returned an error.
pub(crate) const STATUS_ACTOR_ERROR: i32 = 1;
/// `gf_handle`'s return code: the payload is not the buffer from `gf_alloc`.
pub(crate) const STATUS_BAD_PAYLOAD: i32 = 2;
/// `gf_handle`'s return code: `gf_handle` was entered while running.
pub(crate) const STATUS_REENTERED: i32 = 3;

/// A static cell holding a value that only one caller at a time may use.
///
/// A wasm32 guest has one thread and the host never re-enters `gf_handle`,
/// so the flag is never contended in practice; it makes the cell sound on any
/// target, turning a re-entry into an error instead of aliased `&mut`.
pub struct Slot<T> {
    busy: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: `with` hands out the `&mut` only while holding the `busy` flag,
// which it takes with an atomic compare-exchange, so at most one thread at a
// time touches the value: the same contract as a `Mutex<T>`, which is `Sync`
// when `T: Send`. On wasm32 without the `atomics` feature there is only one
// thread, so no value ever crosses threads and `T` need not be `Send`.
#[allow(unsafe_code)]
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl<T> Sync for Slot<T> {}

// SAFETY: as above; with threads, `T: Send` is required as for `Mutex<T>`.
#[allow(unsafe_code)]
#[cfg(not(all(target_arch = "wasm32", not(target_feature = "atomics"))))]
unsafe impl<T: Send> Sync for Slot<T> {}

impl<T> Slot<T> {
    /// An empty slot.
    #[allow(clippy::new_without_default)] // used in statics, where only `const fn` works
    pub const fn new() -> Slot<T> {
        Slot {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// Runs `f` on the value, or returns `None` if the slot is in use.
    fn with<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> Option<R> {
        if self
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        struct Release<'a>(&'a AtomicBool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _release = Release(&self.busy);
        #[allow(unsafe_code)]
        // SAFETY: we hold the `busy` flag (set above, cleared by `_release`
        // after `f` returns or unwinds), so no other `&mut` to the value
        // exists; the reference does not outlive this call.
        let value = unsafe { &mut *self.value.get() };
        Some(f(value))
    }
}

/// The payload buffer `gf_alloc` handed out, waiting for `gf_handle`.
static PENDING: Slot<Vec<u8>> = Slot::new();

/// The address of a buffer as the `i32` the ABI passes around.
fn address(buf: &[u8]) -> i32 {
    buf.as_ptr() as usize as i32
}

/// `gf_alloc(len)`: a zeroed buffer of `len` bytes (the length is read as
/// unsigned), kept until `gf_handle` takes it. Returns its address, or `0` if
/// it cannot be allocated. A buffer that was never handled is freed.
pub fn alloc(len: i32) -> i32 {
    let len = len as u32 as usize;
    let mut buf = Vec::new();
    if buf.try_reserve_exact(len).is_err() {
        return 0;
    }
    buf.resize(len, 0);
    let ptr = address(&buf);
    match PENDING.with(|pending| *pending = Some(buf)) {
        Some(()) => ptr,
        None => 0,
    }
}

/// Takes back the buffer from [`alloc`] if `ptr` and `len` name it. A message
/// with `len == 0` needs no buffer, so any pointer is accepted for it.
fn take_payload(ptr: i32, len: i32) -> Option<Vec<u8>> {
    let pending = PENDING.with(Option::take).flatten();
    match pending {
        Some(buf) if address(&buf) == ptr && buf.len() == len as u32 as usize => Some(buf),
        _ if len == 0 => Some(Vec::new()),
        _ => None,
    }
}

/// `gf_handle(ptr, len)`: runs the actor kept in `actor` (created with
/// `Default` on first use) on the payload.
pub fn handle<A: Actor>(actor: &Slot<A>, ptr: i32, len: i32) -> i32 {
    let input = match take_payload(ptr, len) {
        Some(input) => input,
        None => {
            sys::log(
                Level::Error.code(),
                b"gf_handle: the payload is not the buffer gf_alloc returned",
            );
            return STATUS_BAD_PAYLOAD;
        }
    };
    let status = actor.with(|slot| run(slot.get_or_insert_with(A::default), &input));
    match status {
        Some(status) => status,
        None => {
            sys::log(Level::Error.code(), b"gf_handle: entered while running");
            STATUS_REENTERED
        }
    }
}

/// The bytes `gf_state_save` last handed out, kept until the next call.
static SAVED: Slot<Vec<u8>> = Slot::new();

/// `gf_state_save()`: the actor's [`Actor::save_state`] as `ptr << 32 | len`
/// (the buffer stays valid until the next call), or `0` for no state.
pub fn state_save<A: Actor>(actor: &Slot<A>) -> i64 {
    // (`match`, not `let ... else`: the SDK builds with Rust 1.63.)
    let bytes = match actor.with(|slot| slot.as_ref().and_then(A::save_state)) {
        Some(Some(bytes)) => bytes,
        _ => return 0,
    };
    let packed = (i64::from(address(&bytes)) << 32) | i64::from(bytes.len() as u32);
    match SAVED.with(|saved| *saved = Some(bytes)) {
        Some(()) => packed,
        None => 0,
    }
}

/// `gf_state_load(ptr, len)`: takes the buffer from [`alloc`] and hands it to
/// [`Actor::load_state`] of the actor (created with `Default`). Returns the
/// same codes as [`handle`].
pub fn state_load<A: Actor>(actor: &Slot<A>, ptr: i32, len: i32) -> i32 {
    let state = match take_payload(ptr, len) {
        Some(state) => state,
        None => {
            sys::log(
                Level::Error.code(),
                b"gf_state_load: the state is not the buffer gf_alloc returned",
            );
            return STATUS_BAD_PAYLOAD;
        }
    };
    let loaded = actor.with(|slot| slot.get_or_insert_with(A::default).load_state(&state));
    match loaded {
        Some(Ok(())) => STATUS_OK,
        Some(Err(e)) => {
            sys::log(Level::Error.code(), e.message().as_bytes());
            STATUS_ACTOR_ERROR
        }
        None => STATUS_REENTERED,
    }
}

/// One message: the actor's result becomes the reply or an error-level log.
pub(crate) fn run<A: Actor>(actor: &mut A, input: &[u8]) -> i32 {
    let mut ctx = Context::new();
    match actor.handle(&mut ctx, input) {
        Ok(reply) => {
            sys::reply(&reply);
            STATUS_OK
        }
        Err(e) => {
            sys::log(Level::Error.code(), e.message().as_bytes());
            STATUS_ACTOR_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Mock;
    use crate::Error;

    #[derive(Default)]
    struct Sum {
        total: u64,
        messages: u32,
    }

    impl Actor for Sum {
        fn handle(&mut self, _ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
            self.messages += 1;
            if input == b"boom" {
                return Err(Error::new("boom"));
            }
            self.total += input.iter().map(|&b| u64::from(b)).sum::<u64>();
            Ok(alloc::format!("{}/{}", self.total, self.messages).into_bytes())
        }
    }

    // `PENDING` is one static for the whole test binary, so everything that
    // touches it runs in this one test.
    #[test]
    fn alloc_then_handle() {
        let mock = Mock::new();
        static ACTOR: Slot<Sum> = Slot::new();

        // The buffer handed out is the one taken back.
        let ptr = alloc(3);
        assert_ne!(ptr, 0);
        let buf = PENDING.with(|p| p.as_mut().map(|b| b.len())).unwrap();
        assert_eq!(buf, Some(3));
        PENDING.with(|p| p.as_mut().unwrap().copy_from_slice(&[1, 2, 3]));
        assert_eq!(handle(&ACTOR, ptr, 3), STATUS_OK);
        assert_eq!(mock.reply(), Some(b"6/1".to_vec()));

        // The state stays between messages.
        let ptr = alloc(1);
        PENDING.with(|p| p.as_mut().unwrap()[0] = 4);
        assert_eq!(handle(&ACTOR, ptr, 1), STATUS_OK);
        assert_eq!(mock.reply(), Some(b"10/2".to_vec()));

        // An empty payload.
        let ptr = alloc(0);
        assert_ne!(ptr, 0);
        assert_eq!(handle(&ACTOR, ptr, 0), STATUS_OK);
        assert_eq!(mock.reply(), Some(b"10/3".to_vec()));
        // ... even without gf_alloc.
        assert_eq!(handle(&ACTOR, 0, 0), STATUS_OK);

        // A pointer or length that is not the pending buffer is refused, and
        // the buffer is dropped.
        let ptr = alloc(2);
        assert_eq!(handle(&ACTOR, ptr.wrapping_add(1), 2), STATUS_BAD_PAYLOAD);
        assert_eq!(handle(&ACTOR, ptr, 2), STATUS_BAD_PAYLOAD);
        let ptr = alloc(2);
        assert_eq!(handle(&ACTOR, ptr, 1), STATUS_BAD_PAYLOAD);
        assert_eq!(handle(&ACTOR, 64, 5), STATUS_BAD_PAYLOAD);

        // A second gf_alloc replaces the first.
        let _first = alloc(4);
        let second = alloc(4);
        PENDING.with(|p| p.as_mut().unwrap().copy_from_slice(b"boom"));
        assert_eq!(handle(&ACTOR, second, 4), STATUS_ACTOR_ERROR);
        assert_eq!(mock.logs().last().unwrap().1, "boom");

        state_round_trips_through_save_and_load();
    }

    #[derive(Default, PartialEq, Debug)]
    struct Kept(u8);

    impl Actor for Kept {
        fn handle(&mut self, _ctx: &mut Context, _input: &[u8]) -> Result<Vec<u8>, Error> {
            self.0 += 1;
            Ok(Vec::new())
        }
        fn save_state(&self) -> Option<Vec<u8>> {
            Some(alloc::vec![self.0])
        }
        fn load_state(&mut self, state: &[u8]) -> Result<(), Error> {
            match state {
                [n] => {
                    self.0 = *n;
                    Ok(())
                }
                _ => Err(Error::new("bad state")),
            }
        }
    }

    // Called from `alloc_then_handle`: it uses `PENDING` too.
    fn state_round_trips_through_save_and_load() {
        let _mock = Mock::new();
        static ONE: Slot<Kept> = Slot::new();
        static TWO: Slot<Kept> = Slot::new();
        // No actor yet: no state.
        assert_eq!(state_save(&ONE), 0);
        assert_eq!(handle(&ONE, 0, 0), STATUS_OK);
        assert_eq!(handle(&ONE, 0, 0), STATUS_OK);
        let packed = state_save(&ONE);
        assert_eq!(packed & 0xffff_ffff, 1);
        let saved = SAVED.with(|s| s.as_ref().map(|v| (v.clone(), address(v))));
        assert_eq!(saved, Some(Some((alloc::vec![2u8], (packed >> 32) as i32))));
        // A fresh actor gets it back, then goes on from there.
        let ptr = alloc(1);
        PENDING.with(|p| p.as_mut().unwrap()[0] = 2);
        assert_eq!(state_load(&TWO, ptr, 1), STATUS_OK);
        assert_eq!(handle(&TWO, 0, 0), STATUS_OK);
        assert_eq!(TWO.with(|a| a.as_ref().map(|k| k.0)), Some(Some(3)));
        // A state the actor refuses is an actor error; a wrong buffer is refused.
        let ptr = alloc(2);
        assert_eq!(state_load(&TWO, ptr, 2), STATUS_ACTOR_ERROR);
        assert_eq!(state_load(&TWO, 64, 1), STATUS_BAD_PAYLOAD);
    }

    #[test]
    fn slot_refuses_reentry() {
        let slot: Slot<u32> = Slot::new();
        let inner = slot.with(|v| {
            *v = Some(7);
            slot.with(|_| ())
        });
        assert_eq!(inner, Some(None));
        assert_eq!(slot.with(|v| *v), Some(Some(7)));
    }
}
