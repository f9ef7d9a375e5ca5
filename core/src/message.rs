//! What core knows of a message: where it goes, its size and deadline, and how
//! it ended. Payloads never enter core; the host keeps them by [`MessageId`].

use core::fmt;

use crate::ids::{ActorId, ActorKey, FunctionId, Key, MessageId};
use crate::time::Tick;

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Target {
    /// Anycast: any instance of the function; the platform picks or creates one.
    Function(FunctionId),
    /// Addressed: the one actor of the function with this key (S2).
    Actor(FunctionId, Key),
}

impl Target {
    /// The function the message is for.
    pub const fn function(&self) -> FunctionId {
        match *self {
            Target::Function(f) | Target::Actor(f, _) => f,
        }
    }

    /// The key of an addressed message.
    pub const fn key(&self) -> Option<Key> {
        match *self {
            Target::Function(_) => None,
            Target::Actor(_, k) => Some(k),
        }
    }

    /// The actor an addressed message names.
    pub const fn actor(&self) -> Option<ActorId> {
        match *self {
            Target::Function(_) => None,
            Target::Actor(function, k) => Some(ActorId {
                function,
                key: ActorKey::Keyed(k),
            }),
        }
    }
}

/// Why a target string does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetError(pub crate::ids::IdError);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad target (use `function` or `function/key`): {}",
            self.0
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TargetError {}

impl Target {
    /// Parses `function` (anycast) or `function/key` (addressed; the key is
    /// everything after the first `/`).
    pub fn parse(s: &str) -> Result<Target, TargetError> {
        match s.split_once('/') {
            None => Ok(Target::Function(FunctionId::new(s).map_err(TargetError)?)),
            Some((f, k)) => Ok(Target::Actor(
                FunctionId::new(f).map_err(TargetError)?,
                Key::new(k).map_err(TargetError)?,
            )),
        }
    }
}

impl core::str::FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Target, TargetError> {
        Target::parse(s)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Function(func) => write!(f, "{func}"),
            Target::Actor(func, k) => write!(f, "{func}/{k}"),
        }
    }
}

/// The metadata of one message, everything the SIM decisions look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageMeta {
    /// Unique id; retries and forwards keep it.
    pub id: MessageId,
    /// Where it goes.
    pub target: Target,
    /// The session it belongs to, if the caller named one.
    pub session: Option<Key>,
    /// Payload size in bytes.
    pub bytes: u32,
    /// When the caller stops waiting; the message ends as Expired after it.
    pub deadline: Tick,
    /// Which try this is, starting at 1.
    pub attempt: u32,
}

/// What an actor asks for the messages that come next (the SIM's influence on
/// future messages). Set by the guest while it runs.
///
/// `Any` and `Session` stay in force until the guest sets another;
/// `Refuse` and `Stop` are about the current run and end with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Disposition {
    /// Give me any message (the default). Messages may wait for me while I am busy.
    #[default]
    Any,
    /// Send me the messages of this session, and queue them for me while I am
    /// busy; I take other messages when none of my session wait.
    Session(Key),
    /// While I am busy, queue nothing for me: new anycast messages go to another
    /// instance or a new one; messages for me as an addressed actor are rejected
    /// as Busy. Ends when this run ends.
    Refuse,
    /// Terminate me after this message.
    Stop,
}

impl Disposition {
    /// Whether messages may be queued for an actor with this disposition.
    pub const fn accepts_queueing(&self) -> bool {
        matches!(self, Disposition::Any | Disposition::Session(_))
    }
}

/// Why a message was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RejectReason {
    /// No instance is free, none can be created, and the buffer is full.
    Overloaded,
    /// The addressed actor is busy and refused new messages.
    Busy,
    /// The payload is larger than the function's `max_payload`.
    TooLarge,
    /// No function of that name is deployed.
    UnknownFunction,
    /// The node is shutting down and takes no new messages.
    ShuttingDown,
    /// The deadline had already passed when the message arrived.
    DeadlinePassed,
    /// The node cannot host the addressed actor now (it lost its cluster
    /// lease); try again, or another node.
    Unavailable,
}

impl RejectReason {
    /// A short stable name, for metrics and errors.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::Overloaded => "overloaded",
            RejectReason::Busy => "busy",
            RejectReason::TooLarge => "too_large",
            RejectReason::UnknownFunction => "unknown_function",
            RejectReason::ShuttingDown => "shutting_down",
            RejectReason::DeadlinePassed => "deadline_passed",
            RejectReason::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an actor failed a message (or failed to start).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum FaultKind {
    /// The guest trapped (unreachable, bad memory access, a bad pointer given to the host...).
    Trap,
    /// The guest used up its fuel for the message (a runaway loop).
    OutOfFuel,
    /// The guest asked for more memory than its limit.
    OutOfMemory,
    /// The instance could not be created or its start-up failed.
    StartFailed,
    /// The node running the message was lost (killed, partitioned) before it
    /// answered; the message may or may not have run.
    NodeLost,
}

impl FaultKind {
    /// A short stable name, for metrics and errors.
    pub const fn as_str(self) -> &'static str {
        match self {
            FaultKind::Trap => "trap",
            FaultKind::OutOfFuel => "out_of_fuel",
            FaultKind::OutOfMemory => "out_of_memory",
            FaultKind::StartFailed => "start_failed",
            FaultKind::NodeLost => "node_lost",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an accepted message ended, exactly once per message (S3). The host
/// attaches the reply bytes to [`Verdict::Replied`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Verdict {
    /// The actor finished the message.
    Replied,
    /// Every attempt failed; the last fault is given.
    Failed(FaultKind),
    /// The deadline passed before the message finished.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        for s in ["detect", "counter/a", "counter/a/b c"] {
            assert_eq!(std::format!("{}", Target::parse(s).unwrap()), s);
        }
        assert_eq!(
            Target::parse("counter/a/b")
                .unwrap()
                .key()
                .unwrap()
                .as_str(),
            "a/b"
        );
        assert!(Target::parse("").is_err());
        assert!(Target::parse("counter/").is_err());
        assert!(Target::parse("/a").is_err());
        assert!(Target::parse("bad name").is_err());
    }
}
