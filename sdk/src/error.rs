//! Errors: why a `send` or `call` did not go through, and a guest's own error.

use alloc::string::{String, ToString};
use core::fmt;

/// Why [`Context::send`](crate::Context::send) or
/// [`Context::call`](crate::Context::call) did not produce a reply.
///
/// Each variant is one of the ABI's negative return codes; see
/// [`CallError::from_code`] and [`CallError::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallError {
    /// `-1`: the target string is not `function` or `function/key`.
    BadTarget,
    /// `-2`: the payload is over the function's `max_payload`.
    TooLarge,
    /// `-3`: no node has the function deployed.
    UnknownFunction,
    /// `-4`: the callee failed (it trapped or returned an error on every try).
    Failed,
    /// `-5`: the callee rejected the message (busy, overloaded, shutting down).
    Rejected,
    /// `-6`: the message expired before it was answered.
    Expired,
    /// Any other code (a newer host may add codes).
    Other(i32),
}

impl CallError {
    /// The error for a return code of the `send` or `call` import.
    ///
    /// Codes `-1` to `-6` map to their variants; anything else becomes
    /// [`CallError::Other`].
    pub const fn from_code(code: i32) -> CallError {
        match code {
            -1 => CallError::BadTarget,
            -2 => CallError::TooLarge,
            -3 => CallError::UnknownFunction,
            -4 => CallError::Failed,
            -5 => CallError::Rejected,
            -6 => CallError::Expired,
            other => CallError::Other(other),
        }
    }

    /// The ABI return code of this error (the inverse of [`from_code`](Self::from_code)).
    pub const fn code(self) -> i32 {
        match self {
            CallError::BadTarget => -1,
            CallError::TooLarge => -2,
            CallError::UnknownFunction => -3,
            CallError::Failed => -4,
            CallError::Rejected => -5,
            CallError::Expired => -6,
            CallError::Other(code) => code,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::BadTarget => f.write_str("invalid target"),
            CallError::TooLarge => f.write_str("payload too large"),
            CallError::UnknownFunction => f.write_str("unknown function"),
            CallError::Failed => f.write_str("the callee failed"),
            CallError::Rejected => f.write_str("the callee rejected the message"),
            CallError::Expired => f.write_str("the message expired"),
            CallError::Other(code) => write!(f, "error code {code}"),
        }
    }
}

/// An error returned by [`Actor::handle`](crate::Actor::handle).
///
/// It fails the current message: the SDK logs the message at error level and
/// `gf_handle` returns `1`, which the host treats like a trap (the message is
/// retried on a fresh instance up to its `max_attempts`, then its caller gets
/// `Failed`). For an answer the caller should see, return `Ok` with a reply
/// that says what went wrong instead.
///
/// `?` converts a [`CallError`] and the common parse errors into it.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?})", self.message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::new(message)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::new(message)
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Error {
        Error::new(alloc::format!("call failed: {e}"))
    }
}

impl From<core::str::Utf8Error> for Error {
    fn from(e: core::str::Utf8Error) -> Error {
        Error::new(e.to_string())
    }
}

impl From<core::num::ParseIntError> for Error {
    fn from(e: core::num::ParseIntError) -> Error {
        Error::new(e.to_string())
    }
}

impl From<core::num::ParseFloatError> for Error {
    fn from(e: core::num::ParseFloatError) -> Error {
        Error::new(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        let all = [
            (-1, CallError::BadTarget),
            (-2, CallError::TooLarge),
            (-3, CallError::UnknownFunction),
            (-4, CallError::Failed),
            (-5, CallError::Rejected),
            (-6, CallError::Expired),
        ];
        for (code, e) in all {
            assert_eq!(CallError::from_code(code), e);
            assert_eq!(e.code(), code);
        }
        for code in [-7, -100, i32::MIN, 0, 1, i32::MAX] {
            assert_eq!(CallError::from_code(code), CallError::Other(code));
            assert_eq!(CallError::from_code(code).code(), code);
        }
    }

    #[test]
    fn messages() {
        assert_eq!(CallError::Failed.to_string(), "the callee failed");
        assert_eq!(CallError::Other(-9).to_string(), "error code -9");
        assert_eq!(
            Error::from(CallError::Expired).message(),
            "call failed: the message expired"
        );
        assert_eq!(Error::new("nope").to_string(), "nope");
        assert_eq!(alloc::format!("{:?}", Error::new("x")), "Error(\"x\")");
        let e: Error = "12x".parse::<u32>().unwrap_err().into();
        assert_eq!(e.message(), "invalid digit found in string");
    }
}
