//! Wire types: the envelope a message travels in, the outcome that comes
//! back, and the frames nodes exchange; postcard-encoded behind a version byte.
//!
//! A frame is `[VERSION][postcard bytes]`. Transports put a length prefix in
//! front and call [`check_frame_len`] before they allocate a buffer for it;
//! [`decode`] checks the length again before it looks at a byte, and returns
//! an error, never a panic, for anything that is not a frame.
//!
//! Deadlines cross the wire as the time left ([`Request::budget`]), since two
//! nodes' monotonic clocks share no epoch; each side converts at its own `now`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::Key;
use crate::ids::{ActorId, MessageId, NodeId};
use crate::message::{FaultKind, RejectReason, Target, Verdict};
use crate::time::{Span, Tick};

/// The wire format version this build speaks.
pub const VERSION: u8 = 1;

/// The default largest frame, in bytes: room for a 16 MiB payload and its envelope.
pub const MAX_FRAME: usize = 17 << 20;

/// Bytes, serialized as one byte string (not a sequence of numbers).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Payload(pub Vec<u8>);

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload(v)
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Payload, E> {
                Ok(Payload(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
                Ok(Payload(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// A message inside a node: who it is for, who waits, and its payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique id; retries and forwards keep it.
    pub id: MessageId,
    /// Where it goes.
    pub target: Target,
    /// The actor that sent it, if an actor did.
    pub sender: Option<ActorId>,
    /// The node waiting for its outcome, if any (none for one-way sends).
    pub reply_to: Option<NodeId>,
    /// The session it belongs to.
    pub session: Option<Key>,
    /// When the caller stops waiting, on this node's clock.
    pub deadline: Tick,
    /// Which try this is, from 1.
    pub attempt: u32,
    /// How many times nodes have forwarded it (a bound against loops).
    pub hops: u8,
    /// The bytes for the guest.
    pub payload: Payload,
}

impl Envelope {
    /// The metadata core's decisions need.
    pub fn meta(&self) -> crate::message::MessageMeta {
        crate::message::MessageMeta {
            id: self.id,
            target: self.target,
            session: self.session,
            bytes: u32::try_from(self.payload.0.len()).unwrap_or(u32::MAX),
            deadline: self.deadline,
            attempt: self.attempt,
        }
    }
}

/// An envelope on the wire: the deadline becomes the time left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Unique id; the receiver deduplicates on it.
    pub id: MessageId,
    /// Where it goes.
    pub target: Target,
    /// The actor that sent it.
    pub sender: Option<ActorId>,
    /// The node waiting for its outcome (none for one-way sends).
    pub reply_to: Option<NodeId>,
    /// The session it belongs to.
    pub session: Option<Key>,
    /// Time left until the deadline when the frame was written.
    pub budget: Span,
    /// Which try this is, from 1.
    pub attempt: u32,
    /// How many times nodes have forwarded it.
    pub hops: u8,
    /// The bytes for the guest.
    pub payload: Payload,
}

impl Request {
    /// The wire form of `env`, written at `now`.
    pub fn from_envelope(env: Envelope, now: Tick) -> Request {
        Request {
            id: env.id,
            target: env.target,
            sender: env.sender,
            reply_to: env.reply_to,
            session: env.session,
            budget: env.deadline.since(now),
            attempt: env.attempt,
            hops: env.hops,
            payload: env.payload,
        }
    }

    /// The envelope on the receiver, read at `now`.
    pub fn into_envelope(self, now: Tick) -> Envelope {
        Envelope {
            id: self.id,
            target: self.target,
            sender: self.sender,
            reply_to: self.reply_to,
            session: self.session,
            deadline: now.after(self.budget),
            attempt: self.attempt,
            hops: self.hops,
            payload: self.payload,
        }
    }
}

/// Why a message failed, for the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The kind of the last fault.
    pub kind: FaultKind,
    /// What the host saw (a trap message), for humans.
    pub detail: String,
}

/// What the caller gets back, exactly once per message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The actor's reply.
    Reply(Payload),
    /// Every attempt failed.
    Failed(Failure),
    /// The message was not accepted.
    Rejected(RejectReason),
    /// The deadline passed first.
    Expired,
}

impl Outcome {
    /// The outcome for a core verdict; `reply` is the guest's output for
    /// `Replied`, `detail` the host's account of a failure.
    pub fn from_verdict(verdict: Verdict, reply: Vec<u8>, detail: String) -> Outcome {
        match verdict {
            Verdict::Replied => Outcome::Reply(Payload(reply)),
            Verdict::Failed(kind) => Outcome::Failed(Failure { kind, detail }),
            Verdict::Expired => Outcome::Expired,
        }
    }

    /// The outcome for a rejected arrival (a passed deadline is `Expired`).
    pub fn rejected(reason: RejectReason) -> Outcome {
        match reason {
            RejectReason::DeadlinePassed => Outcome::Expired,
            r => Outcome::Rejected(r),
        }
    }
}

/// What nodes say to each other.
// A request carries its ids inline (no heap in core's types); a frame lives
// only between a socket and a dispatcher, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame on a connection: who is speaking.
    Hello {
        /// The sender's node name.
        node: NodeId,
    },
    /// Run this message (and send its outcome back if `reply_to` is set).
    Request(Request),
    /// A one-way message was accepted; no outcome will follow.
    Accepted {
        /// Which message.
        id: MessageId,
    },
    /// The outcome of a request.
    Outcome {
        /// Which message.
        id: MessageId,
        /// How it ended.
        outcome: Outcome,
    },
    /// Are you there?
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// Yes.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
}

/// Why bytes are not a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The frame is larger than allowed.
    TooLarge {
        /// Its length in bytes.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// No bytes at all.
    Empty,
    /// The version byte is not one this build speaks.
    Version {
        /// The byte found.
        got: u8,
    },
    /// The bytes after the version do not decode to a frame.
    Malformed(postcard::Error),
    /// A frame decoded but bytes were left over.
    TrailingBytes(usize),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes is over the limit of {max}")
            }
            WireError::Empty => f.write_str("empty frame"),
            WireError::Version { got } => {
                write!(
                    f,
                    "frame version {got} is not supported (this node speaks {VERSION})"
                )
            }
            WireError::Malformed(e) => write!(f, "malformed frame: {e}"),
            WireError::TrailingBytes(n) => write!(f, "{n} bytes left over after the frame"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WireError {}

/// Checks a length prefix before reading (and allocating for) the frame.
pub fn check_frame_len(len: u64, max: usize) -> Result<(), WireError> {
    if len > max as u64 {
        Err(WireError::TooLarge {
            len,
            max: max as u64,
        })
    } else {
        Ok(())
    }
}

/// Encodes a frame: the version byte, then postcard.
pub fn encode(frame: &Frame, max: usize) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(64);
    out.push(VERSION);
    let out = postcard::to_extend(frame, out).map_err(WireError::Malformed)?;
    check_frame_len(out.len() as u64, max)?;
    Ok(out)
}

/// Decodes a frame, checking its size first. Never panics.
pub fn decode(bytes: &[u8], max: usize) -> Result<Frame, WireError> {
    check_frame_len(bytes.len() as u64, max)?;
    let (&version, rest) = bytes.split_first().ok_or(WireError::Empty)?;
    if version != VERSION {
        return Err(WireError::Version { got: version });
    }
    let (frame, left) = postcard::take_from_bytes(rest).map_err(WireError::Malformed)?;
    if !left.is_empty() {
        return Err(WireError::TrailingBytes(left.len()));
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ActorKey, FunctionId};

    fn envelope() -> Envelope {
        let f = FunctionId::new("detect").unwrap();
        Envelope {
            id: MessageId(0xfeed_beef_0000_0001),
            target: Target::Actor(f, Key::new("field-7").unwrap()),
            sender: Some(ActorId {
                function: FunctionId::new("ingest").unwrap(),
                key: ActorKey::Instance(3),
            }),
            reply_to: Some(NodeId::new("edge-1").unwrap()),
            session: Some(Key::new("s1").unwrap()),
            deadline: Tick(5_000),
            attempt: 2,
            hops: 1,
            payload: Payload(b"{\"t\":21.5}".to_vec()),
        }
    }

    #[test]
    fn a_request_round_trips_and_keeps_the_time_left() {
        let req = Request::from_envelope(envelope(), Tick(1_000));
        assert_eq!(req.budget, Span(4_000));
        let bytes = encode(&Frame::Request(req.clone()), MAX_FRAME).unwrap();
        assert_eq!(bytes[0], VERSION);
        let Frame::Request(back) = decode(&bytes, MAX_FRAME).unwrap() else {
            panic!("not a request");
        };
        assert_eq!(back, req);
        // On a node whose clock reads 70_000 the deadline is 4 ms later.
        assert_eq!(back.into_envelope(Tick(70_000)).deadline, Tick(74_000));
    }

    #[test]
    fn payload_is_a_byte_string() {
        let small = encode(
            &Frame::Outcome {
                id: MessageId(1),
                outcome: Outcome::Reply(Payload(alloc::vec![0xff; 200])),
            },
            MAX_FRAME,
        )
        .unwrap();
        // version + variant + id + variant + 2-byte length + 200 bytes
        assert_eq!(small.len(), 1 + 1 + 1 + 1 + 2 + 200);
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert_eq!(decode(&[], MAX_FRAME), Err(WireError::Empty));
        assert_eq!(
            decode(&[9, 0], MAX_FRAME),
            Err(WireError::Version { got: 9 })
        );
        assert!(matches!(
            decode(&[VERSION, 200], MAX_FRAME),
            Err(WireError::Malformed(_))
        ));
        let mut ok = encode(&Frame::Ping { nonce: 7 }, MAX_FRAME).unwrap();
        ok.push(0);
        assert_eq!(decode(&ok, MAX_FRAME), Err(WireError::TrailingBytes(1)));
        assert_eq!(
            decode(&[VERSION; 11], 10),
            Err(WireError::TooLarge { len: 11, max: 10 })
        );
        assert!(check_frame_len(u64::MAX, MAX_FRAME).is_err());
        // A length prefix that claims more than the input holds.
        assert!(decode(&[VERSION, 2, 1, 0xff, 0xff, 0xff, 0x0f], MAX_FRAME).is_err());
    }

    #[test]
    fn outcomes_map_from_verdicts() {
        assert_eq!(
            Outcome::from_verdict(Verdict::Replied, b"ok".to_vec(), String::new()),
            Outcome::Reply(Payload(b"ok".to_vec()))
        );
        assert_eq!(
            Outcome::rejected(RejectReason::DeadlinePassed),
            Outcome::Expired
        );
        assert_eq!(
            Outcome::rejected(RejectReason::Busy),
            Outcome::Rejected(RejectReason::Busy)
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[a-z][a-z0-9._-]{0,20}"
        }

        fn key() -> impl Strategy<Value = Key> {
            "[^\\p{Cc}]{1,16}".prop_filter_map("fits", |s| Key::new(&s).ok())
        }

        fn target() -> impl Strategy<Value = Target> {
            (name(), proptest::option::of(key())).prop_map(|(f, k)| {
                let f = FunctionId::new(&f).unwrap();
                match k {
                    Some(k) => Target::Actor(f, k),
                    None => Target::Function(f),
                }
            })
        }

        fn request() -> impl Strategy<Value = Request> {
            (
                any::<u128>(),
                target(),
                proptest::option::of((name(), any::<u32>())),
                proptest::option::of(name()),
                proptest::option::of(key()),
                any::<u64>(),
                (any::<u32>(), any::<u8>()),
                proptest::collection::vec(any::<u8>(), 0..300),
            )
                .prop_map(
                    |(id, target, sender, reply_to, session, budget, (attempt, hops), payload)| {
                        Request {
                            id: MessageId(id),
                            target,
                            sender: sender.map(|(f, n)| ActorId {
                                function: FunctionId::new(&f).unwrap(),
                                key: ActorKey::Instance(n),
                            }),
                            reply_to: reply_to.map(|n| NodeId::new(&n[..n.len().min(32)]).unwrap()),
                            session,
                            budget: Span(budget),
                            attempt,
                            hops,
                            payload: Payload(payload),
                        }
                    },
                )
        }

        fn outcome() -> impl Strategy<Value = Outcome> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..100)
                    .prop_map(|v| Outcome::Reply(Payload(v))),
                (".{0,40}").prop_map(|d| Outcome::Failed(Failure {
                    kind: FaultKind::Trap,
                    detail: d
                })),
                Just(Outcome::Rejected(RejectReason::Overloaded)),
                Just(Outcome::Expired),
            ]
        }

        fn frame() -> impl Strategy<Value = Frame> {
            prop_oneof![
                name().prop_map(|n| Frame::Hello {
                    node: NodeId::new(&n[..n.len().min(32)]).unwrap()
                }),
                request().prop_map(Frame::Request),
                (any::<u128>(), outcome()).prop_map(|(id, outcome)| Frame::Outcome {
                    id: MessageId(id),
                    outcome
                }),
                any::<u128>().prop_map(|id| Frame::Accepted { id: MessageId(id) }),
                any::<u64>().prop_map(|nonce| Frame::Ping { nonce }),
                any::<u64>().prop_map(|nonce| Frame::Pong { nonce }),
            ]
        }

        proptest! {
            #[test]
            fn frames_round_trip(f in frame()) {
                let bytes = encode(&f, MAX_FRAME).unwrap();
                prop_assert_eq!(decode(&bytes, MAX_FRAME).unwrap(), f);
            }

            #[test]
            fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode(&bytes, MAX_FRAME);
                let _ = decode(&bytes, 16);
            }

            #[test]
            fn corrupting_a_frame_never_panics(
                f in frame(),
                at in any::<prop::sample::Index>(),
                b in any::<u8>(),
            ) {
                let mut bytes = encode(&f, MAX_FRAME).unwrap();
                let i = at.index(bytes.len());
                bytes[i] = b;
                let _ = decode(&bytes, MAX_FRAME);
            }

            #[test]
            fn a_cut_frame_is_an_error(f in frame(), cut in any::<prop::sample::Index>()) {
                let bytes = encode(&f, MAX_FRAME).unwrap();
                let short = &bytes[..cut.index(bytes.len())];
                prop_assert!(decode(short, MAX_FRAME).is_err());
            }
        }
    }
}
