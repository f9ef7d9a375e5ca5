//! The guest ABI of `spec/abi.md`: the host functions of module `goldfish`,
//! and the checks a module must pass to be deployed.
//!
//! Every pointer and length a guest passes is checked against its memory
//! before use; a bad one is an [`Interrupt::Fault`], which traps the guest and
//! fails its message, and never touches the host.

use std::fmt;
use std::ops::Range;
use std::sync::Weak;

use goldfish_core::wire::Envelope;
use goldfish_core::{ActorId, Disposition, Key, Slot, Target, Tick};
use wasmi::{Caller, Linker, Memory, Module, ValType};

use crate::dispatcher::Function;
use crate::node::NodeInner;

/// Longest log line a guest may write, in bytes.
const MAX_LOG: usize = 4096;

/// Why a host function stopped the guest.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// `call`: suspend the guest until the callee's outcome is known (the
    /// request waits in [`MessageCtx::call`]).
    Call,
    /// A broken call (bad pointer, bad argument): the guest traps.
    Fault(String),
}

impl fmt::Display for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interrupt::Call => f.write_str("suspended in a call"),
            Interrupt::Fault(s) => f.write_str(s),
        }
    }
}

impl wasmi::errors::HostError for Interrupt {}

fn fault(msg: impl Into<String>) -> wasmi::Error {
    wasmi::Error::host(Interrupt::Fault(msg.into()))
}

/// A guest's `call`, waiting to be carried out.
#[derive(Debug)]
pub(crate) struct CallRequest {
    /// Where it goes.
    pub(crate) target: Target,
    /// What it carries.
    pub(crate) payload: Vec<u8>,
}

/// `call`'s return codes (spec/abi.md).
pub(crate) mod code {
    pub(crate) const BAD_TARGET: i32 = -1;
    pub(crate) const TOO_LARGE: i32 = -2;
    pub(crate) const UNKNOWN_FUNCTION: i32 = -3;
    pub(crate) const FAILED: i32 = -4;
    pub(crate) const REJECTED: i32 = -5;
    pub(crate) const EXPIRED: i32 = -6;
}

/// The message an actor is running, as its host functions see it.
#[derive(Debug, Default)]
pub(crate) struct MessageCtx {
    /// Its session.
    pub(crate) session: Option<Key>,
    /// Its deadline (callees inherit it).
    pub(crate) deadline: Tick,
    /// The reply so far.
    pub(crate) reply: Vec<u8>,
    /// The last `call`'s reply.
    pub(crate) call_reply: Vec<u8>,
    /// One-way sends, handed to the platform only if the message succeeds.
    pub(crate) outbox: Vec<Envelope>,
    /// The `call` the guest is suspended in.
    pub(crate) call: Option<CallRequest>,
}

/// What an actor's host functions can reach.
pub(crate) struct Link {
    pub(crate) node: Weak<NodeInner>,
    pub(crate) function: Weak<Function>,
    pub(crate) actor: ActorId,
    pub(crate) slot: Slot,
    pub(crate) max_payload: u32,
}

/// Caps memory growth at the function's limit and remembers a refusal, so
/// the trap that usually follows is reported as out of memory.
pub(crate) struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    pub(crate) refused: bool,
}

impl wasmi::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        let ok = desired <= self.max_bytes;
        if !ok {
            self.refused = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        4
    }
    fn memories(&self) -> usize {
        1
    }
}

/// The data of one actor's store.
pub(crate) struct HostState {
    pub(crate) limiter: MemoryLimiter,
    pub(crate) memory: Option<Memory>,
    pub(crate) msg: MessageCtx,
    pub(crate) link: Link,
}

/// `ptr..ptr+len` inside a memory of `size` bytes, or a fault.
fn range(ptr: i32, len: i32, size: usize, what: &str) -> Result<Range<usize>, wasmi::Error> {
    let start = ptr as u32 as usize;
    let len = len as u32 as usize;
    match start.checked_add(len) {
        Some(end) if end <= size => Ok(start..end),
        _ => Err(fault(format!(
            "{what}: bytes {start}..{start}+{len} are outside the guest's memory of {size} bytes"
        ))),
    }
}

fn memory(caller: &Caller<'_, HostState>) -> Result<Memory, wasmi::Error> {
    // Looked up by name only until the instance is made (a start function
    // runs before the handle is stored).
    caller
        .data()
        .memory
        .or_else(|| caller.get_export("memory").and_then(|e| e.into_memory()))
        .ok_or_else(|| fault("the guest has no memory export"))
}

/// Checks a whole `ptr..ptr+len` range, used or not: a bad pointer traps
/// even when the host would not have touched all of it.
fn check_range(
    caller: &Caller<'_, HostState>,
    ptr: i32,
    len: i32,
    what: &str,
) -> Result<(), wasmi::Error> {
    let mem = memory(caller)?;
    range(ptr, len, mem.data_size(caller), what).map(|_| ())
}

/// Copies guest bytes out.
fn read(
    caller: &Caller<'_, HostState>,
    ptr: i32,
    len: i32,
    what: &str,
) -> Result<Vec<u8>, wasmi::Error> {
    let mem = memory(caller)?;
    let data = mem.data(caller);
    let r = range(ptr, len, data.len(), what)?;
    Ok(data[r].to_vec())
}

/// Copies up to `len` bytes of `src` into guest memory at `ptr`; returns how many.
fn write_prefix(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
    src: &[u8],
    what: &str,
) -> Result<i32, wasmi::Error> {
    check_range(caller, ptr, len, what)?;
    let mem = memory(caller)?;
    let n = src.len().min(len as u32 as usize);
    let data = mem.data_mut(&mut *caller);
    let r = range(ptr, n as i32, data.len(), what)?;
    data[r].copy_from_slice(&src[..n]);
    Ok(n as i32)
}

fn target(
    caller: &Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> Result<Option<Target>, wasmi::Error> {
    let bytes = read(caller, ptr, len, "target")?;
    Ok(std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| Target::parse(s).ok()))
}

/// Checks the arguments of `send`/`call`: a target code or the parsed target and payload.
fn outgoing(
    caller: &Caller<'_, HostState>,
    tp: i32,
    tl: i32,
    pp: i32,
    pl: i32,
) -> Result<Result<(Target, Vec<u8>), i32>, wasmi::Error> {
    let Some(t) = target(caller, tp, tl)? else {
        return Ok(Err(code::BAD_TARGET));
    };
    // Check the range before the size, so a bad pointer still traps.
    let mem = memory(caller)?;
    range(pp, pl, mem.data_size(caller), "payload")?;
    if pl as u32 > caller.data().link.max_payload {
        return Ok(Err(code::TOO_LARGE));
    }
    let known = caller
        .data()
        .link
        .node
        .upgrade()
        .is_some_and(|n| n.function_known(t.function()));
    if !known {
        return Ok(Err(code::UNKNOWN_FUNCTION));
    }
    Ok(Ok((t, read(caller, pp, pl, "payload")?)))
}

/// Registers the host functions of module `goldfish`.
pub(crate) fn link(linker: &mut Linker<HostState>) -> Result<(), wasmi::errors::LinkerError> {
    const M: &str = "goldfish";
    linker.func_wrap(
        M,
        "reply",
        |caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            if len as u32 > caller.data().link.max_payload {
                return Err(fault(format!(
                    "reply of {} bytes is over max_payload ({})",
                    len as u32,
                    caller.data().link.max_payload
                )));
            }
            let bytes = read(&caller, ptr, len, "reply")?;
            let mut caller = caller;
            caller.data_mut().msg.reply = bytes;
            Ok(())
        },
    )?;
    linker.func_wrap(
        M,
        "send",
        |mut caller: Caller<'_, HostState>, tp: i32, tl: i32, pp: i32, pl: i32| {
            let (target, payload) = match outgoing(&caller, tp, tl, pp, pl)? {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let Some(node) = caller.data().link.node.upgrade() else {
                return Ok(code::REJECTED);
            };
            let sender = caller.data().link.actor;
            let env = node.envelope(target, payload, Some(sender), None, None);
            caller.data_mut().msg.outbox.push(env);
            Ok(0)
        },
    )?;
    linker.func_wrap(
        M,
        "call",
        |mut caller: Caller<'_, HostState>,
         tp: i32,
         tl: i32,
         pp: i32,
         pl: i32|
         -> Result<i32, wasmi::Error> {
            let (target, payload) = match outgoing(&caller, tp, tl, pp, pl)? {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            caller.data_mut().msg.call = Some(CallRequest { target, payload });
            Err(wasmi::Error::host(Interrupt::Call))
        },
    )?;
    linker.func_wrap(
        M,
        "call_result",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            let reply = std::mem::take(&mut caller.data_mut().msg.call_reply);
            let n = write_prefix(&mut caller, ptr, len, &reply, "call_result");
            caller.data_mut().msg.call_reply = reply;
            n
        },
    )?;
    linker.func_wrap(
        M,
        "next",
        |caller: Caller<'_, HostState>, d: i32, kp: i32, kl: i32| {
            check_range(&caller, kp, kl, "session key")?;
            let disposition = match d {
                0 => Disposition::Any,
                1 => {
                    let bytes = read(&caller, kp, kl, "session key")?;
                    let key = std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|s| Key::new(s).ok())
                        .ok_or_else(|| fault("next: the session key is not a valid key"))?;
                    Disposition::Session(key)
                }
                2 => Disposition::Refuse,
                3 => Disposition::Stop,
                other => return Err(fault(format!("next: unknown disposition {other}"))),
            };
            let link = &caller.data().link;
            if let Some(f) = link.function.upgrade() {
                f.set_disposition(link.slot, disposition);
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        M,
        "session",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            check_range(&caller, ptr, len, "session")?;
            let Some(s) = caller.data().msg.session else {
                return Ok(-1);
            };
            write_prefix(&mut caller, ptr, len, s.as_str().as_bytes(), "session")?;
            Ok(s.as_str().len() as i32)
        },
    )?;
    linker.func_wrap(
        M,
        "self_id",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            let id = caller.data().link.actor.to_string();
            write_prefix(&mut caller, ptr, len, id.as_bytes(), "self_id")?;
            Ok(id.len() as i32)
        },
    )?;
    linker.func_wrap(
        M,
        "log",
        |caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| {
            check_range(&caller, ptr, len, "log")?;
            let len = (len as u32).min(MAX_LOG as u32) as i32;
            let bytes = read(&caller, ptr, len, "log")?;
            let text = String::from_utf8_lossy(&bytes);
            // The message's id and target are on the enclosing spans.
            let actor = &caller.data().link.actor;
            match level {
                0 => tracing::error!(guest = %actor, "{text}"),
                1 => tracing::warn!(guest = %actor, "{text}"),
                2 => tracing::info!(guest = %actor, "{text}"),
                3 => tracing::debug!(guest = %actor, "{text}"),
                _ => tracing::trace!(guest = %actor, "{text}"),
            }
            Ok(())
        },
    )?;
    linker.func_wrap(M, "now_ms", |_: Caller<'_, HostState>| -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })?;
    Ok(())
}

/// Why a module cannot be deployed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    /// A required export is missing.
    #[error("the module does not export `{0}` (see spec/abi.md)")]
    MissingExport(&'static str),
    /// An export has the wrong type.
    #[error("export `{name}` has type {got}, expected {want}")]
    WrongExport {
        /// The export.
        name: &'static str,
        /// What it is.
        got: String,
        /// What it must be.
        want: &'static str,
    },
    /// An import the host does not provide.
    #[error("the module imports `{module}::{name}` {ty}, which the host does not provide (only module `goldfish`, see spec/abi.md)")]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// Its type.
        ty: String,
    },
}

/// The signature of each host function: (params, results).
fn host_signature(name: &str) -> Option<(&'static [ValType], &'static [ValType])> {
    use ValType::{I32, I64};
    Some(match name {
        "reply" => (&[I32, I32], &[]),
        "send" | "call" => (&[I32, I32, I32, I32], &[I32]),
        "call_result" | "session" | "self_id" => (&[I32, I32], &[I32]),
        "next" | "log" => (&[I32, I32, I32], &[]),
        "now_ms" => (&[], &[I64]),
        _ => return None,
    })
}

/// Checks a compiled module against the ABI.
pub(crate) fn check(module: &Module) -> Result<(), AbiError> {
    for import in module.imports() {
        let ok = match import.ty() {
            wasmi::ExternType::Func(f) if import.module() == "goldfish" => {
                host_signature(import.name())
                    .is_some_and(|(p, r)| f.params() == p && f.results() == r)
            }
            _ => false,
        };
        if !ok {
            return Err(AbiError::UnknownImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
                ty: format!("{:?}", import.ty()),
            });
        }
    }
    let export = |name: &'static str| {
        module
            .exports()
            .find(|e| e.name() == name)
            .map(|e| e.ty().clone())
            .ok_or(AbiError::MissingExport(name))
    };
    if !matches!(export("memory")?, wasmi::ExternType::Memory(_)) {
        return Err(AbiError::WrongExport {
            name: "memory",
            got: format!("{:?}", export("memory")?),
            want: "a memory",
        });
    }
    for (name, params, want) in [
        ("gf_alloc", &[ValType::I32][..], "(i32) -> i32"),
        (
            "gf_handle",
            &[ValType::I32, ValType::I32][..],
            "(i32, i32) -> i32",
        ),
    ] {
        let ty = export(name)?;
        let ok = matches!(&ty, wasmi::ExternType::Func(f) if f.params() == params && f.results() == [ValType::I32]);
        if !ok {
            return Err(AbiError::WrongExport {
                name,
                got: format!("{ty:?}"),
                want,
            });
        }
    }
    Ok(())
}
