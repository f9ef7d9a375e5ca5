//! An actor: one wasmi instance in its own store. Its linear memory and
//! globals are the actor's short-term state; they live from one message to the
//! next until the actor is dropped at Terminated.

use std::sync::Arc;

use goldfish_core::{ActorId, FaultKind};
use wasmi::{Instance, Module, Store, TypedFunc, TypedResumableCall, TypedResumableCallHostTrap};

use crate::abi::{CallRequest, HostState, Interrupt, Link, MemoryLimiter, MessageCtx};
use crate::config::FunctionConfig;

/// A compiled function: its module and how to instantiate it.
pub(crate) struct Code {
    /// SHA-256 of the Wasm bytes: the node's module cache key.
    pub(crate) hash: [u8; 32],
    pub(crate) module: Module,
    pub(crate) linker: Arc<wasmi::Linker<HostState>>,
}

/// Why an actor failed a message (or failed to start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) kind: FaultKind,
    pub(crate) detail: String,
}

impl Fault {
    fn start(detail: impl Into<String>) -> Fault {
        Fault {
            kind: FaultKind::StartFailed,
            detail: detail.into(),
        }
    }
}

/// A guest suspended in a `call`, to be resumed with its result.
pub(crate) struct Suspended(TypedResumableCallHostTrap<i32>);

/// Where a message's run stands.
pub(crate) enum Step {
    /// Finished: the reply, or why it failed.
    Done(Result<(), Fault>),
    /// Waiting for a call's outcome.
    Call(CallRequest, Box<Suspended>),
}

/// `gf_state_save` and `gf_state_load`.
type StateFuncs = (TypedFunc<(), i64>, TypedFunc<(i32, i32), i32>);

/// One live instance.
pub(crate) struct Actor {
    store: Store<HostState>,
    alloc: TypedFunc<i32, i32>,
    handle: TypedFunc<(i32, i32), i32>,
    /// `gf_state_save` and `gf_state_load`, if the guest exports them (used
    /// only by `stateless` functions, see [`crate::state`]).
    state: Option<StateFuncs>,
    fuel: u64,
}

// A suspended call moves to another task with its actor.
const _: () = {
    const fn send<T: Send>() {}
    send::<Actor>();
    send::<Suspended>();
};

impl Actor {
    /// Creates an instance and runs its start function, with the function's
    /// fuel and memory limits.
    pub(crate) fn instantiate(
        code: &Code,
        config: &FunctionConfig,
        link: Link,
    ) -> Result<Actor, Fault> {
        let engine = code.module.engine();
        let state = HostState {
            limiter: MemoryLimiter {
                max_bytes: config.memory_bytes(),
                refused: false,
            },
            memory: None,
            msg: MessageCtx::default(),
            link,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(config.fuel)
            .map_err(|e| Fault::start(e.to_string()))?;
        let instance: Instance = code
            .linker
            .instantiate_and_start(&mut store, &code.module)
            .map_err(|e| {
                let refused = store.data().limiter.refused;
                Fault::start(if refused {
                    format!(
                        "its initial memory is over the limit of {} pages",
                        config.memory_pages
                    )
                } else {
                    e.to_string()
                })
            })?;
        let memory = instance
            .get_memory(&store, "memory")
            .ok_or_else(|| Fault::start("no memory export"))?;
        store.data_mut().memory = Some(memory);
        let alloc = instance
            .get_typed_func::<i32, i32>(&store, "gf_alloc")
            .map_err(|e| Fault::start(e.to_string()))?;
        let handle = instance
            .get_typed_func::<(i32, i32), i32>(&store, "gf_handle")
            .map_err(|e| Fault::start(e.to_string()))?;
        let state = instance
            .get_typed_func::<(), i64>(&store, "gf_state_save")
            .ok()
            .zip(
                instance
                    .get_typed_func::<(i32, i32), i32>(&store, "gf_state_load")
                    .ok(),
            );
        Ok(Actor {
            store,
            alloc,
            handle,
            state,
            fuel: config.fuel,
        })
    }

    /// Starts a message: `gf_alloc`, copy the payload in, `gf_handle`.
    pub(crate) fn begin(&mut self, payload: &[u8], ctx: MessageCtx) -> Step {
        let s = &mut self.store;
        s.data_mut().msg = ctx;
        s.data_mut().limiter.refused = false;
        if let Err(e) = s.set_fuel(self.fuel) {
            return Step::Done(Err(Fault {
                kind: FaultKind::Trap,
                detail: e.to_string(),
            }));
        }
        let Ok(len) = i32::try_from(payload.len()) else {
            return Step::Done(Err(Fault {
                kind: FaultKind::OutOfMemory,
                detail: "payload over 2 GiB".into(),
            }));
        };
        let ptr = match self.alloc.call(&mut *s, len) {
            Ok(0) if len > 0 => {
                return Step::Done(Err(Fault {
                    kind: FaultKind::OutOfMemory,
                    detail: format!("gf_alloc could not allocate {len} bytes"),
                }))
            }
            Ok(p) => p,
            Err(e) => return Step::Done(Err(self.classify(e))),
        };
        let Some(memory) = self.store.data().memory else {
            return Step::Done(Err(Fault {
                kind: FaultKind::Trap,
                detail: "no memory".into(),
            }));
        };
        if memory
            .write(&mut self.store, ptr as u32 as usize, payload)
            .is_err()
        {
            return Step::Done(Err(Fault {
                kind: FaultKind::Trap,
                detail: format!("gf_alloc returned {ptr}, which cannot hold {len} bytes"),
            }));
        }
        let call = self.handle.call_resumable(&mut self.store, (ptr, len));
        self.step(call)
    }

    /// Whether the guest can save and load its state (`gf_state_save`,
    /// `gf_state_load`).
    pub(crate) fn keeps_state(&self) -> bool {
        self.state.is_some()
    }

    /// Hands a saved state to a fresh instance: `gf_alloc`, copy it in,
    /// `gf_state_load`. Does nothing if the guest has no `gf_state_load`.
    pub(crate) fn load_state(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        let Some((_, load)) = self.state else {
            return Ok(());
        };
        let trap = |detail: String| Fault {
            kind: FaultKind::Trap,
            detail,
        };
        let len = i32::try_from(bytes.len()).map_err(|_| trap("state over 2 GiB".into()))?;
        let ptr = match self.alloc.call(&mut self.store, len) {
            Ok(0) if len > 0 => {
                return Err(Fault {
                    kind: FaultKind::OutOfMemory,
                    detail: format!("gf_alloc could not allocate {len} bytes of state"),
                })
            }
            Ok(p) => p,
            Err(e) => return Err(self.classify(e)),
        };
        let memory = self
            .store
            .data()
            .memory
            .ok_or_else(|| trap("no memory".into()))?;
        memory
            .write(&mut self.store, ptr as u32 as usize, bytes)
            .map_err(|_| {
                trap(format!(
                    "gf_alloc returned {ptr}, which cannot hold the state"
                ))
            })?;
        match load.call(&mut self.store, (ptr, len)) {
            Ok(0) => Ok(()),
            Ok(code) => Err(trap(format!("gf_state_load returned error code {code}"))),
            Err(e) => Err(self.classify(e)),
        }
    }

    /// The guest's state after a message (`gf_state_save`), if it has one.
    pub(crate) fn save_state(&mut self) -> Result<Option<Vec<u8>>, Fault> {
        let Some((save, _)) = self.state else {
            return Ok(None);
        };
        let packed = save
            .call(&mut self.store, ())
            .map_err(|e| self.classify(e))?;
        if packed == 0 {
            return Ok(None);
        }
        let (ptr, len) = ((packed >> 32) as u32 as usize, packed as u32 as usize);
        let memory = self.store.data().memory.ok_or_else(|| Fault {
            kind: FaultKind::Trap,
            detail: "no memory".into(),
        })?;
        // Checked before allocating: the length comes from the guest.
        let end = ptr.saturating_add(len);
        if end > memory.data_size(&self.store) {
            return Err(Fault {
                kind: FaultKind::Trap,
                detail: format!("gf_state_save returned {ptr}+{len}, past the end of memory"),
            });
        }
        Ok(Some(memory.data(&self.store)[ptr..end].to_vec()))
    }

    /// Resumes a guest suspended in `call` with the call's return value (the
    /// reply bytes are already in the message context).
    pub(crate) fn resume(&mut self, s: Suspended, value: i32) -> Step {
        let Suspended(invocation) = s;
        let call = invocation.resume(&mut self.store, &[wasmi::Val::I32(value)]);
        self.step(call)
    }

    fn step(&mut self, call: Result<TypedResumableCall<i32>, wasmi::Error>) -> Step {
        match call {
            Ok(TypedResumableCall::Finished(0)) => Step::Done(Ok(())),
            Ok(TypedResumableCall::Finished(code)) => Step::Done(Err(Fault {
                kind: FaultKind::Trap,
                detail: format!("gf_handle returned error code {code}"),
            })),
            Ok(TypedResumableCall::OutOfFuel(_)) => Step::Done(Err(Fault {
                kind: FaultKind::OutOfFuel,
                detail: format!("used up its fuel ({} units) for the message", self.fuel),
            })),
            Ok(TypedResumableCall::HostTrap(t)) => match t.host_error().downcast_ref::<Interrupt>()
            {
                Some(Interrupt::Call) => match self.store.data_mut().msg.call.take() {
                    Some(request) => Step::Call(request, Box::new(Suspended(t))),
                    None => Step::Done(Err(Fault {
                        kind: FaultKind::Trap,
                        detail: "suspended without a call".into(),
                    })),
                },
                Some(Interrupt::Fault(detail)) => Step::Done(Err(Fault {
                    kind: FaultKind::Trap,
                    detail: detail.clone(),
                })),
                None => Step::Done(Err(Fault {
                    kind: FaultKind::Trap,
                    detail: t.host_error().to_string(),
                })),
            },
            Err(e) => Step::Done(Err(self.classify(e))),
        }
    }

    fn classify(&self, e: wasmi::Error) -> Fault {
        if self.store.data().limiter.refused {
            return Fault {
                kind: FaultKind::OutOfMemory,
                detail: format!("memory limit reached, then: {e}"),
            };
        }
        if let Some(Interrupt::Fault(d)) = e.downcast_ref::<Interrupt>() {
            return Fault {
                kind: FaultKind::Trap,
                detail: d.clone(),
            };
        }
        let kind = match e.as_trap_code() {
            Some(wasmi::TrapCode::OutOfFuel) => FaultKind::OutOfFuel,
            _ => FaultKind::Trap,
        };
        Fault {
            kind,
            detail: e.to_string(),
        }
    }

    /// The message context, taken out after a run (reply, outbox).
    pub(crate) fn take_ctx(&mut self) -> MessageCtx {
        std::mem::take(&mut self.store.data_mut().msg)
    }

    /// Who it is.
    pub(crate) fn id(&self) -> ActorId {
        self.store.data().link.actor
    }

    /// Gives the guest the reply of its last `call`.
    pub(crate) fn set_call_reply(&mut self, reply: Vec<u8>) {
        self.store.data_mut().msg.call_reply = reply;
    }

    /// Fuel used by the current message so far.
    pub(crate) fn fuel_used(&self) -> u64 {
        self.fuel.saturating_sub(self.store.get_fuel().unwrap_or(0))
    }

    /// Bytes of linear memory the actor holds.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.store
            .data()
            .memory
            .map_or(0, |m| m.data_size(&self.store))
    }
}
