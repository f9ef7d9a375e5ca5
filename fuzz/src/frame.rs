//! `frame_decode`: arbitrary bytes through [`wire::decode`].
//!
//! - decoding never panics, whatever the bytes and the limit;
//! - a frame that decodes re-encodes, within the limit and in no more bytes
//!   than it came in (the encoding is minimal), and decodes to the same frame;
//! - the re-encoding is a fixed point (encode . decode . encode = encode);
//! - a limit one byte short of the input refuses it as `TooLarge` before
//!   looking at it;
//! - a request's budget survives the trip into an envelope and back at any
//!   clock reading where the deadline does not saturate.

use goldfish_core::wire::{self, Frame, Request, WireError, MAX_FRAME};
use goldfish_core::Tick;

/// The whole check for one input. Panics on a violated property.
pub fn check(data: &[u8]) {
    // A smaller limit, as a transport configured below the default would use.
    let _ = wire::decode(data, 64);
    if let Some(short) = data.len().checked_sub(1) {
        assert!(
            matches!(
                wire::decode(data, short),
                Err(WireError::TooLarge { len, max }) if len == data.len() as u64 && max == short as u64
            ),
            "a frame over the limit is refused as TooLarge"
        );
    }
    let Ok(frame) = wire::decode(data, MAX_FRAME) else {
        return;
    };
    let bytes = wire::encode(&frame, MAX_FRAME).expect("a decoded frame re-encodes");
    assert!(bytes.len() <= MAX_FRAME, "re-encoding is over MAX_FRAME");
    assert!(
        bytes.len() <= data.len(),
        "re-encoding ({} bytes) is longer than the input ({} bytes)",
        bytes.len(),
        data.len()
    );
    let back = wire::decode(&bytes, MAX_FRAME).expect("a re-encoded frame decodes");
    assert_eq!(back, frame, "round trip changed the frame");
    assert_eq!(
        wire::encode(&back, MAX_FRAME).expect("re-encodes"),
        bytes,
        "encoding is not a fixed point"
    );
    // The exact limit is enough.
    assert_eq!(wire::decode(&bytes, bytes.len()).as_ref(), Ok(&frame));
    if let Frame::Request(req) = frame {
        request_budget_round_trips(&req);
    }
}

fn request_budget_round_trips(req: &Request) {
    let _ = req.clone().into_envelope(Tick::NEVER).meta();
    for now in [Tick::ZERO, Tick(1 << 40), Tick(u64::MAX - 1)] {
        let env = req.clone().into_envelope(now);
        let meta = env.meta();
        assert_eq!(meta.id, req.id);
        assert_eq!(
            u64::from(meta.bytes),
            (req.payload.0.len() as u64).min(u64::from(u32::MAX))
        );
        let back = Request::from_envelope(env, now);
        if now.0.checked_add(req.budget.0).is_some() {
            assert_eq!(&back, req, "budget lost in an envelope at {now}");
        } else {
            // The deadline saturated at NEVER: the budget can only shrink.
            assert!(back.budget <= req.budget);
            assert_eq!(
                Request {
                    budget: req.budget,
                    ..back
                },
                *req
            );
        }
    }
}
