//! What an actor can do while it handles a message.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::CallError;
use crate::sys;

/// The actor's view of the platform while it handles one message.
///
/// The SDK hands a `&mut Context` to [`Actor::handle`](crate::Actor::handle);
/// there is no other way to get one, so the host functions are only used
/// while a message is running.
pub struct Context {
    _private: (),
}

/// What an actor asks for after the current message (see `core/README.md`,
/// "Dispositions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposition<'a> {
    /// The default: messages may wait for this actor.
    Any,
    /// Messages of this session wait for this actor, which takes them first;
    /// it stays until changed. The key must be 1 to 64 bytes without control
    /// characters ([`valid_session_key`](crate::valid_session_key)), or the
    /// host traps.
    Session(&'a str),
    /// Nothing is queued for this actor while it runs: anycast messages go to
    /// another instance and addressed ones are rejected as busy. Back to
    /// [`Any`](Disposition::Any) when the run ends.
    Refuse,
    /// Terminate this actor once the current message is done; its memory is
    /// dropped and the next addressed message gets a fresh activation.
    Stop,
}

impl Disposition<'_> {
    /// The ABI code: `0` Any, `1` Session, `2` Refuse, `3` Stop.
    pub const fn code(&self) -> i32 {
        match self {
            Disposition::Any => 0,
            Disposition::Session(_) => 1,
            Disposition::Refuse => 2,
            Disposition::Stop => 3,
        }
    }

    /// The session key passed with the code (empty unless `Session`).
    pub const fn key(&self) -> &str {
        match self {
            Disposition::Session(key) => key,
            _ => "",
        }
    }
}

/// The level of a [`Context::log`] line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `0`
    Error,
    /// `1`
    Warn,
    /// `2`
    Info,
    /// `3`
    Debug,
    /// `4`
    Trace,
}

impl Level {
    /// The ABI code: `0` error, `1` warn, `2` info, `3` debug, `4` trace.
    pub const fn code(self) -> i32 {
        match self {
            Level::Error => 0,
            Level::Warn => 1,
            Level::Info => 2,
            Level::Debug => 3,
            Level::Trace => 4,
        }
    }

    /// The level for an ABI code; the host counts unknown codes as trace.
    pub const fn from_code(code: i32) -> Level {
        match code {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            3 => Level::Debug,
            _ => Level::Trace,
        }
    }
}

impl Context {
    pub(crate) fn new() -> Context {
        Context { _private: () }
    }

    /// Sends a one-way message to `target` (`function` or `function/key`).
    ///
    /// `Ok` means the platform took it (the target is created on demand);
    /// nothing tells whether it was handled.
    pub fn send(&mut self, target: &str, payload: &[u8]) -> Result<(), CallError> {
        match sys::send(target.as_bytes(), payload) {
            0 => Ok(()),
            code => Err(CallError::from_code(code)),
        }
    }

    /// Sends a message to `target` and waits for its reply.
    ///
    /// The actor is suspended (without blocking the node) until the outcome
    /// arrives; the callee's deadline is the current message's deadline.
    pub fn call(&mut self, target: &str, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        let len = sys::call(target.as_bytes(), payload);
        if len < 0 {
            return Err(CallError::from_code(len));
        }
        let mut reply = vec![0; len as usize];
        let copied = sys::call_result(&mut reply);
        reply.truncate(copied.max(0) as usize);
        Ok(reply)
    }

    /// Sets what this actor asks for after the current message (the last call
    /// wins). A [`Disposition::Session`] key the host does not accept traps.
    pub fn next(&mut self, disposition: Disposition) {
        sys::next(disposition.code(), disposition.key().as_bytes());
    }

    /// The current message's session key, if it has one.
    pub fn session(&self) -> Option<String> {
        read_string(sys::session)
    }

    /// This actor's id: `function/key` for an addressed actor, `function#n`
    /// for an anycast instance.
    pub fn self_id(&self) -> String {
        read_string(sys::self_id).unwrap_or_default()
    }

    /// Logs a line through the node's log output, tagged with the actor and
    /// message ids. The host cuts it at 4 KiB.
    pub fn log(&self, level: Level, msg: &str) {
        sys::log(level.code(), msg.as_bytes());
    }

    /// Wall-clock time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        sys::now_ms()
    }
}

/// Reads a string from a host function that returns its full length and
/// copies a prefix into the buffer (`session`, `self_id`), or returns a
/// negative number for "none".
fn read_string(get: fn(&mut [u8]) -> i32) -> Option<String> {
    let mut small = [0u8; 128];
    let len = get(&mut small);
    if len < 0 {
        return None;
    }
    let len = len as usize;
    if len <= small.len() {
        return Some(String::from_utf8_lossy(&small[..len]).into_owned());
    }
    let mut big = vec![0; len];
    let copied = get(&mut big);
    big.truncate(copied.max(0) as usize);
    Some(String::from_utf8_lossy(&big).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_codes() {
        assert_eq!(Disposition::Any.code(), 0);
        assert_eq!(Disposition::Session("s").code(), 1);
        assert_eq!(Disposition::Refuse.code(), 2);
        assert_eq!(Disposition::Stop.code(), 3);
        assert_eq!(Disposition::Session("cart-9").key(), "cart-9");
        assert_eq!(Disposition::Stop.key(), "");
    }

    #[test]
    fn level_codes() {
        for level in [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ] {
            assert_eq!(Level::from_code(level.code()), level);
        }
        assert_eq!(Level::Error.code(), 0);
        assert_eq!(Level::Trace.code(), 4);
        assert_eq!(Level::from_code(99), Level::Trace);
        assert_eq!(Level::from_code(-1), Level::Trace);
    }
}
