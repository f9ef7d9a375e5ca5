//! The atomics the crate uses: `core`'s normally, loom's under `--cfg loom`
//! (tokio's pattern), so the loom tests check the very code that ships.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
