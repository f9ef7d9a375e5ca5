//! The embedding API: a [`Node`] runs deployed functions as actors.
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use goldfish_host::{FunctionConfig, Node};
//! use goldfish_core::{Target, wire::Outcome};
//!
//! let node = Node::builder().name("edge-1").build()?;
//! node.deploy("counter", wasm, FunctionConfig::default())?;
//! let out = node.invoke(Target::parse("counter/field-7")?, b"tick".to_vec()).await;
//! assert!(matches!(out, Outcome::Reply(_)));
//! node.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use goldfish_core::transport::Transport;
use goldfish_core::wire::{Envelope, Outcome, Payload};
use goldfish_core::{ActorId, FunctionId, IdError, Key, MessageId, NodeId, RejectReason, Target};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::abi::{self, AbiError, HostState};
use crate::actor::Code;
use crate::clock::Clock;
use crate::config::{ConfigError, FunctionConfig};
use crate::dispatcher::{drive, ActorStatus, Function, Work};
use crate::registry::{MemRegistry, Registry};
use crate::stats::FunctionStats;

/// Why a deployment was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The name is not a valid function name.
    #[error("invalid function name: {0}")]
    Name(#[from] IdError),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The bytes are not a valid WebAssembly module.
    #[error("not a valid WebAssembly module: {0}")]
    Invalid(String),
    /// The module does not follow the guest ABI.
    #[error("the module does not follow the GoldFish ABI: {0}")]
    Abi(#[from] AbiError),
    /// A function of that name is deployed already.
    #[error("function `{0}` is already deployed; undeploy it first")]
    AlreadyDeployed(FunctionId),
    /// No function of that name is deployed.
    #[error("function `{0}` is not deployed")]
    NotDeployed(FunctionId),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
}

/// Why a node could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The name is not a valid node name.
    #[error("invalid node name: {0}")]
    Name(#[from] IdError),
    /// `build` was called outside a tokio runtime.
    #[error("a node needs a tokio runtime; build it inside one")]
    NoRuntime,
    /// The transport serves another node name.
    #[error("the transport is for node `{transport}`, not `{node}`")]
    TransportName {
        /// The transport's node.
        transport: NodeId,
        /// The builder's name.
        node: NodeId,
    },
    /// The wasm engine could not be set up.
    #[error("engine: {0}")]
    Engine(String),
}

/// A message for [`Node::invoke_with`].
#[derive(Clone, Debug)]
pub struct Call {
    /// Where it goes.
    pub target: Target,
    /// The bytes for the guest.
    pub payload: Vec<u8>,
    /// Its session, for actors that keep sessions.
    pub session: Option<Key>,
    /// How long to wait at most (the function's `timeout_ms` if `None`).
    pub timeout: Option<Duration>,
}

impl Call {
    /// A call with no session and the default timeout.
    pub fn new(target: Target, payload: impl Into<Vec<u8>>) -> Call {
        Call {
            target,
            payload: payload.into(),
            session: None,
            timeout: None,
        }
    }
}

/// Builds a [`Node`].
#[derive(Default)]
pub struct NodeBuilder {
    name: Option<String>,
    transport: Option<Arc<dyn Transport>>,
    registry: Option<Arc<dyn Registry>>,
    address: Option<String>,
    lease: Option<Duration>,
    state_store: Option<Arc<dyn crate::state::StateStore>>,
}

impl NodeBuilder {
    /// The node's name (default `node`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// The transport to other nodes (default: none, a single node).
    pub fn transport(mut self, t: Arc<dyn Transport>) -> Self {
        self.transport = Some(t);
        self
    }

    /// The registry (default: a private [`MemRegistry`]).
    pub fn registry(mut self, r: Arc<dyn Registry>) -> Self {
        self.registry = Some(r);
        self
    }

    /// The address peers reach this node at (published in the registry).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The membership lease (default 10 s). The node heartbeats every third of
    /// it and stops hosting addressed actors if it cannot renew it for two thirds.
    pub fn lease(mut self, ttl: Duration) -> Self {
        self.lease = Some(ttl);
        self
    }

    /// Where `stateless` functions keep their state between messages (see
    /// [`crate::state`]; default: none, so a stateless function forgets
    /// everything after each message).
    pub fn state_store(mut self, store: Arc<dyn crate::state::StateStore>) -> Self {
        self.state_store = Some(store);
        self
    }

    /// Builds the node. Must run inside a tokio runtime.
    pub fn build(self) -> Result<Node, BuildError> {
        let name = NodeId::new(self.name.as_deref().unwrap_or("node"))?;
        if let Some(t) = &self.transport {
            if t.local() != name {
                return Err(BuildError::TransportName {
                    transport: t.local(),
                    node: name,
                });
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let mut config = wasmi::Config::default();
        config
            .consume_fuel(true)
            .enforced_limits(wasmi::EnforcedLimits::strict());
        let engine = wasmi::Engine::new(&config);
        let mut linker = wasmi::Linker::<HostState>::new(&engine);
        abi::link(&mut linker).map_err(|e| BuildError::Engine(e.to_string()))?;
        let inner = Arc::new(NodeInner {
            name,
            clock: Clock::new(),
            runtime,
            engine,
            linker: Arc::new(linker),
            modules: Mutex::new(HashMap::new()),
            functions: RwLock::new(HashMap::new()),
            prefix: id_prefix(name),
            seq: AtomicU64::new(1),
            transport: self.transport,
            registry: self
                .registry
                .unwrap_or_else(|| Arc::new(MemRegistry::new())),
            recent: Mutex::new(crate::middleware::Recent::default()),
            closing: AtomicBool::new(false),
            address: self.address,
            lease_ttl: self
                .lease
                .unwrap_or(Duration::from_secs(10))
                .max(Duration::from_millis(30)),
            membership: crate::membership::Membership::default(),
            state_store: self.state_store,
        });
        if let Some(t) = &inner.transport {
            t.serve(Arc::new(crate::middleware::Inbound(Arc::downgrade(&inner))));
            crate::membership::start(&inner);
        }
        Ok(Node { inner })
    }
}

/// 64 bits that differ between nodes and restarts, so ids minted by
/// different nodes never collide.
fn id_prefix(name: NodeId) -> u64 {
    let mut h = Sha256::new();
    h.update(name.as_str());
    h.update(std::process::id().to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(now.to_le_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().unwrap_or([0; 8]))
}

/// The node's shared state. Everything that runs holds it through an `Arc`
/// (actors through a `Weak`, so a dropped node frees its actors).
pub(crate) struct NodeInner {
    pub(crate) name: NodeId,
    pub(crate) clock: Clock,
    pub(crate) runtime: tokio::runtime::Handle,
    engine: wasmi::Engine,
    linker: Arc<wasmi::Linker<HostState>>,
    modules: Mutex<HashMap<[u8; 32], wasmi::Module>>,
    pub(crate) functions: RwLock<HashMap<FunctionId, Arc<Function>>>,
    prefix: u64,
    seq: AtomicU64,
    pub(crate) transport: Option<Arc<dyn Transport>>,
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) recent: Mutex<crate::middleware::Recent>,
    pub(crate) closing: AtomicBool,
    /// Where peers reach this node.
    pub(crate) address: Option<String>,
    /// The membership lease.
    pub(crate) lease_ttl: Duration,
    /// The lease, the view of the cluster, the owner cache.
    pub(crate) membership: crate::membership::Membership,
    /// The state store of `stateless` functions.
    pub(crate) state_store: Option<Arc<dyn crate::state::StateStore>>,
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        for f in self
            .functions
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            f.timer.close();
        }
    }
}

impl NodeInner {
    /// A fresh message id.
    pub(crate) fn next_id(&self) -> MessageId {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        MessageId((u128::from(self.prefix) << 64) | u128::from(seq))
    }

    /// The local function of that name.
    pub(crate) fn function(&self, name: FunctionId) -> Option<Arc<Function>> {
        self.functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .cloned()
    }

    /// Whether a message to `f` could find it: deployed here, or (in a
    /// cluster, where the registry answers later) maybe elsewhere.
    pub(crate) fn function_known(&self, f: FunctionId) -> bool {
        self.transport.is_some() || self.function(f).is_some()
    }

    /// A new envelope with the target's default deadline.
    pub(crate) fn envelope(
        &self,
        target: Target,
        payload: Vec<u8>,
        sender: Option<ActorId>,
        reply_to: Option<NodeId>,
        session: Option<Key>,
    ) -> Envelope {
        let timeout = self
            .function(target.function())
            .map_or(FunctionConfig::default().timeout_ms, |f| {
                f.config.timeout_ms
            });
        Envelope {
            id: self.next_id(),
            target,
            sender,
            reply_to,
            session,
            deadline: self
                .clock
                .now()
                .after(goldfish_core::Span::from_millis(timeout)),
            attempt: 1,
            hops: 0,
            payload: Payload(payload),
        }
    }

    /// An addressed actor here was terminated: give up its placement.
    pub(crate) fn released(self: &Arc<Self>, actor: ActorId) {
        if self.transport.is_none() {
            return;
        }
        let (registry, me) = (self.registry.clone(), self.name);
        self.runtime.spawn(async move {
            if let Err(e) = registry.release(actor, me).await {
                tracing::warn!(%actor, error = %e, "could not release placement");
            }
        });
    }

    /// Compiles `wasm`, or reuses the module compiled from the same bytes.
    fn compile(&self, wasm: &[u8]) -> Result<([u8; 32], wasmi::Module), DeployError> {
        let key: [u8; 32] = Sha256::digest(wasm).into();
        let mut cache = self.modules.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = cache.get(&key) {
            return Ok((key, m.clone()));
        }
        let module = wasmi::Module::new(&self.engine, wasm)
            .map_err(|e| DeployError::Invalid(e.to_string()))?;
        abi::check(&module)?;
        cache.insert(key, module.clone());
        Ok((key, module))
    }

    /// Drops the cached module for `hash` unless a deployed function still
    /// uses it (a redeploy of the same bytes would compile it again).
    fn forget_module(&self, hash: &[u8; 32]) {
        let fs = self
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut cache = self.modules.lock().unwrap_or_else(PoisonError::into_inner);
        if !fs.values().any(|f| f.code_hash() == hash) {
            cache.remove(hash);
        }
    }

    /// Tells the registry at once (in the background) what runs here.
    fn announce(self: &Arc<Self>) {
        if self.transport.is_none() {
            return;
        }
        let node = self.clone();
        self.runtime.spawn(async move {
            if let Err(e) = crate::membership::heartbeat(&node).await {
                tracing::warn!(error = %e, "could not announce functions");
            }
        });
    }
}

/// A GoldFish node: deploy functions, invoke them, watch their actors.
/// Cheap to clone; every clone is the same node.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl Node {
    /// Starts building a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// The node's name.
    pub fn name(&self) -> NodeId {
        self.inner.name
    }

    /// Whether a shutdown (or an abort) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    /// Deploys `wasm` as function `name`. The module is compiled once per
    /// content (a second deployment of the same bytes reuses it) and checked
    /// against the ABI (`spec/abi.md`).
    pub fn deploy(
        &self,
        name: &str,
        wasm: &[u8],
        config: FunctionConfig,
    ) -> Result<FunctionId, DeployError> {
        let name = FunctionId::new(name)?;
        config.validate()?;
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(DeployError::ShuttingDown);
        }
        let (hash, module) = self.inner.compile(wasm)?;
        let code = Code {
            hash,
            module,
            linker: self.inner.linker.clone(),
        };
        let f = Function::new(Arc::downgrade(&self.inner), name, config, code)
            .map_err(|e| DeployError::Config(ConfigError::Limits(e)))?;
        {
            let mut fs = self
                .inner
                .functions
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if fs.contains_key(&name) {
                return Err(DeployError::AlreadyDeployed(name));
            }
            fs.insert(name, f.clone());
        }
        crate::buffer::start(&self.inner, &f);
        self.inner.announce();
        tracing::info!(function = %name, "deployed");
        Ok(name)
    }

    /// Heartbeats now: publishes this node's functions and capacity to the
    /// registry, renews its lease, and re-reads the cluster (deploy, undeploy
    /// and the heartbeat task also do it, in the background).
    pub async fn announce(&self) -> Result<(), crate::registry::RegistryError> {
        if self.inner.transport.is_none() {
            return Ok(());
        }
        crate::membership::heartbeat(&self.inner).await
    }

    /// Stops at once, as if the process had died: no drain, no goodbye to the
    /// registry (its lease will lapse). For tests and emergencies; callers of
    /// this node's messages get `Rejected(ShuttingDown)` from now on.
    pub fn abort(&self) {
        self.inner.closing.store(true, Ordering::Release);
        if let Some(t) = self.inner.transport.clone() {
            self.inner.runtime.spawn(async move { t.close().await });
        }
        for f in self
            .inner
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            f.timer.close();
        }
    }

    /// Removes function `name`: new messages are rejected as unknown, the
    /// accepted ones finish, then its actors are terminated.
    pub async fn undeploy(&self, name: &str) -> Result<(), DeployError> {
        let name = FunctionId::new(name)?;
        let f = self
            .inner
            .functions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&name)
            .ok_or(DeployError::NotDeployed(name))?;
        self.inner.forget_module(f.code_hash());
        self.inner.announce();
        drain(&self.inner, &f).await;
        f.timer.close();
        Ok(())
    }

    /// How many compiled modules the node keeps (one per distinct Wasm
    /// content in use; undeploying the last user of one drops it).
    pub fn cached_modules(&self) -> usize {
        self.inner
            .modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Sends a message and waits for its outcome (exactly one).
    pub async fn invoke(&self, target: Target, payload: Vec<u8>) -> Outcome {
        self.invoke_with(Call::new(target, payload)).await
    }

    /// Sends a message with a session or timeout and waits for its outcome.
    pub async fn invoke_with(&self, call: Call) -> Outcome {
        let inner = &self.inner;
        let mut env = inner.envelope(
            call.target,
            call.payload,
            None,
            Some(inner.name),
            call.session,
        );
        if let Some(t) = call.timeout {
            env.deadline = inner.clock.now().after(Clock::span(t));
        }
        let id = env.id;
        let span = tracing::info_span!("message", id = %id, target = %call.target);
        let (tx, rx) = oneshot::channel();
        {
            let _entered = span.enter();
            let mut work = Work::new();
            inner.submit_into(env, Some(tx), false, &mut work);
            drive(inner, work, Some(id), 0);
        }
        tracing::Instrument::instrument(rx, span)
            .await
            .unwrap_or_else(|_| {
                Outcome::Failed(goldfish_core::wire::Failure {
                    kind: goldfish_core::FaultKind::NodeLost,
                    detail: "the message was dropped before it had an outcome".into(),
                })
            })
    }

    /// Sends a message without waiting for an outcome. `Err` if no node can
    /// take the function; otherwise the message is handed over and whatever
    /// becomes of it (a reply, or a rejection such as a full buffer) is not
    /// reported back.
    pub fn send(&self, target: Target, payload: Vec<u8>) -> Result<MessageId, RejectReason> {
        let inner = &self.inner;
        let env = inner.envelope(target, payload, None, None, None);
        let id = env.id;
        if inner.function(target.function()).is_none() && !inner.function_known(target.function()) {
            return Err(RejectReason::UnknownFunction);
        }
        let mut work = Work::new();
        inner.submit_into(env, None, false, &mut work);
        drive(inner, work, None, 0);
        Ok(id)
    }

    /// Every live actor on this node: id, phase, idle time, messages.
    pub fn actors(&self) -> Vec<ActorStatus> {
        let fs: Vec<Arc<Function>> = self
            .inner
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut all: Vec<ActorStatus> = fs
            .iter()
            .flat_map(|f| f.actors(&self.inner.clock))
            .collect();
        all.sort_by_key(|a| a.id);
        all
    }

    /// The functions deployed here.
    pub fn functions(&self) -> Vec<FunctionId> {
        let mut v: Vec<FunctionId> = self
            .inner
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        v.sort();
        v
    }

    /// Counters of a function on this node.
    pub fn stats(&self, function: &str) -> Option<FunctionStats> {
        let f = FunctionId::new(function).ok()?;
        self.inner.function(f).map(|f| f.stats.snapshot())
    }

    /// The cluster as this node last read it from the registry: each
    /// function and the nodes that run it (this one included).
    pub fn cluster(&self) -> Vec<(FunctionId, Vec<NodeId>)> {
        self.inner.membership.functions()
    }

    /// Messages this node holds for its functions right now (waiting,
    /// running or about to report).
    pub fn held_messages(&self) -> usize {
        self.inner
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|f| f.held())
            .sum()
    }

    /// Stops taking messages, finishes every accepted one, terminates every
    /// actor, and leaves the cluster.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::Release);
        let fs: Vec<Arc<Function>> = inner
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for f in &fs {
            drain(inner, f).await;
        }
        for f in &fs {
            f.timer.close();
        }
        if let Some(t) = &inner.transport {
            if let Err(e) = inner.registry.withdraw(inner.name).await {
                tracing::warn!(error = %e, "could not leave the registry");
            }
            t.close().await;
        }
        tracing::info!(node = %inner.name, "shut down");
    }
}

/// Shuts a function down and waits until it has nothing left.
async fn drain(node: &Arc<NodeInner>, f: &Arc<Function>) {
    let drained = f.drained.notified();
    tokio::pin!(drained);
    drained.as_mut().enable();
    let work = f.shutdown();
    drive(node, work, None, 0);
    while !f.is_drained() {
        drained.as_mut().await;
        drained.set(f.drained.notified());
        drained.as_mut().enable();
    }
}
