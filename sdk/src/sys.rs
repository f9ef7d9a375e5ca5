//! The host functions, as safe functions over slices.
//!
//! On wasm32 they are the imports of the `goldfish` module (spec/abi.md).
//! Elsewhere they go to the in-process mock host of [`crate::testing`], so
//! the same SDK code runs in native unit tests.

#[cfg(target_arch = "wasm32")]
pub(crate) use self::wasm::*;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::host::*;

#[cfg(target_arch = "wasm32")]
mod wasm {
    // Pointers and `usize` are both `i32` in a wasm32 signature, so these
    // declarations give exactly the import types of the ABI table.
    mod ffi {
        #[link(wasm_import_module = "goldfish")]
        extern "C" {
            pub(super) fn reply(ptr: *const u8, len: usize);
            pub(super) fn send(
                target_ptr: *const u8,
                target_len: usize,
                payload_ptr: *const u8,
                payload_len: usize,
            ) -> i32;
            pub(super) fn call(
                target_ptr: *const u8,
                target_len: usize,
                payload_ptr: *const u8,
                payload_len: usize,
            ) -> i32;
            pub(super) fn call_result(ptr: *mut u8, len: usize) -> i32;
            pub(super) fn next(disposition: i32, key_ptr: *const u8, key_len: usize);
            pub(super) fn session(ptr: *mut u8, len: usize) -> i32;
            pub(super) fn self_id(ptr: *mut u8, len: usize) -> i32;
            pub(super) fn log(level: i32, ptr: *const u8, len: usize);
            pub(super) fn now_ms() -> i64;
        }
    }

    // SAFETY (all functions below): every pointer/length pair comes from a
    // live Rust slice, so it lies inside the guest's memory; the host only
    // reads from `&[u8]` ranges and writes at most `len` bytes into `&mut
    // [u8]` ranges, and keeps no pointer after it returns.

    #[allow(unsafe_code)]
    pub(crate) fn reply(bytes: &[u8]) {
        // SAFETY: see above; `bytes` is a valid slice for the whole call.
        unsafe { ffi::reply(bytes.as_ptr(), bytes.len()) }
    }

    #[allow(unsafe_code)]
    pub(crate) fn send(target: &[u8], payload: &[u8]) -> i32 {
        // SAFETY: see above; both slices are valid for the whole call.
        unsafe {
            ffi::send(
                target.as_ptr(),
                target.len(),
                payload.as_ptr(),
                payload.len(),
            )
        }
    }

    #[allow(unsafe_code)]
    pub(crate) fn call(target: &[u8], payload: &[u8]) -> i32 {
        // SAFETY: see above; both slices are valid for the whole call (the
        // guest is suspended inside it, its memory untouched).
        unsafe {
            ffi::call(
                target.as_ptr(),
                target.len(),
                payload.as_ptr(),
                payload.len(),
            )
        }
    }

    #[allow(unsafe_code)]
    pub(crate) fn call_result(buf: &mut [u8]) -> i32 {
        // SAFETY: see above; the host writes at most `buf.len()` bytes.
        unsafe { ffi::call_result(buf.as_mut_ptr(), buf.len()) }
    }

    #[allow(unsafe_code)]
    pub(crate) fn next(disposition: i32, key: &[u8]) {
        // SAFETY: see above; `key` is a valid slice for the whole call.
        unsafe { ffi::next(disposition, key.as_ptr(), key.len()) }
    }

    #[allow(unsafe_code)]
    pub(crate) fn session(buf: &mut [u8]) -> i32 {
        // SAFETY: see above; the host writes at most `buf.len()` bytes.
        unsafe { ffi::session(buf.as_mut_ptr(), buf.len()) }
    }

    #[allow(unsafe_code)]
    pub(crate) fn self_id(buf: &mut [u8]) -> i32 {
        // SAFETY: see above; the host writes at most `buf.len()` bytes.
        unsafe { ffi::self_id(buf.as_mut_ptr(), buf.len()) }
    }

    #[allow(unsafe_code)]
    pub(crate) fn log(level: i32, msg: &[u8]) {
        // SAFETY: see above; `msg` is a valid slice for the whole call.
        unsafe { ffi::log(level, msg.as_ptr(), msg.len()) }
    }

    #[allow(unsafe_code)]
    pub(crate) fn now_ms() -> i64 {
        // SAFETY: no arguments; the host only returns a number.
        unsafe { ffi::now_ms() }
    }
}
