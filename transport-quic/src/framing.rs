//! One frame on a stream: `[u32 big-endian length][frame bytes]`.

use goldfish_core::wire::{self, Frame, WireError};
use quinn::{ReadError, RecvStream, SendStream, WriteError};

/// The buffer for a frame grows as its bytes arrive, from at most this much:
/// a length prefix alone never makes this node allocate much.
const FIRST_ALLOCATION: usize = 64 << 10;

/// Why no frame could be read.
pub(crate) enum ReadFail {
    /// The length prefix is over the limit (nothing more was read).
    TooLarge { len: u64, max: u64 },
    /// The bytes are not a frame; `bytes` were read, prefix included.
    Malformed { error: WireError, bytes: usize },
    /// The stream ended after `got` bytes, before a whole frame.
    Ended { got: usize },
    /// The stream was reset, or the connection lost.
    Stream(ReadError),
}

/// Reads one length-prefixed frame of at most `max` bytes. The prefix is
/// checked with [`wire::check_frame_len`] before anything is allocated.
/// Returns the frame and the bytes read, prefix included.
pub(crate) async fn read_frame(
    recv: &mut RecvStream,
    max: usize,
) -> Result<(Frame, usize), ReadFail> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        match recv.read(&mut prefix[got..]).await {
            Ok(Some(n)) => got += n,
            Ok(None) => return Err(ReadFail::Ended { got }),
            Err(e) => return Err(ReadFail::Stream(e)),
        }
    }
    let len = u64::from(u32::from_be_bytes(prefix));
    if let Err(WireError::TooLarge { len, max }) = wire::check_frame_len(len, max) {
        return Err(ReadFail::TooLarge { len, max });
    }
    // Fits in usize: it is at most `max`.
    let len = len as usize;
    let mut buf = Vec::with_capacity(len.min(FIRST_ALLOCATION));
    while buf.len() < len {
        match recv.read_chunk(len - buf.len(), true).await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
            Ok(None) => return Err(ReadFail::Ended { got: 4 + buf.len() }),
            Err(e) => return Err(ReadFail::Stream(e)),
        }
    }
    match wire::decode(&buf, max) {
        Ok(frame) => Ok((frame, 4 + len)),
        Err(error) => Err(ReadFail::Malformed {
            error,
            bytes: 4 + len,
        }),
    }
}

/// Writes `bytes` (an encoded frame) with its length prefix. Returns the
/// bytes written, prefix included. The caller checked the length against
/// its limit, which is at most `u32::MAX`.
pub(crate) async fn write_frame(send: &mut SendStream, bytes: &[u8]) -> Result<usize, WriteError> {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    send.write_all(&len.to_be_bytes()).await?;
    send.write_all(bytes).await?;
    Ok(4 + bytes.len())
}
