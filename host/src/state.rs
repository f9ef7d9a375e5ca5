//! The state store of `stateless` functions: the stateless FaaS pattern
//! GoldFish is measured against.
//!
//! A warm actor keeps its state in its own memory. A function deployed with
//! `stateless = true` gets a new instance per message, so whatever it must
//! remember goes through an external store on every message, as a function on
//! OpenFaaS or Spin keeps it in Redis: before the message the node reads the
//! actor's state and hands it to the guest's `gf_state_load`, after a
//! successful message it writes what `gf_state_save` returns. A node without
//! a store, or a guest without those exports, skips both.
//!
//! The store is called from the thread that runs the guest; a store that
//! blocks on I/O (Redis) tells the runtime so, as a function's own Redis
//! client would block its thread.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use goldfish_core::{ActorId, ActorKey};

/// An error of the state store.
#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StateError(pub String);

/// Where stateless functions keep their state between messages.
pub trait StateStore: Send + Sync + 'static {
    /// The bytes stored under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError>;
    /// Stores `value` under `key`.
    fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError>;
}

/// The key an actor's state lives under: `gf:state:<function>` for an
/// anycast function (its instances share one state, as one stateless
/// function's do), `gf:state:<function>/<key>` for an addressed actor.
pub fn state_key(actor: &ActorId) -> String {
    match &actor.key {
        ActorKey::Keyed(k) => format!("gf:state:{}/{}", actor.function, k),
        ActorKey::Instance(_) => format!("gf:state:{}", actor.function),
    }
}

/// A state store in this process's memory (tests, a single node).
#[derive(Default)]
pub struct MemStateStore {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemStateStore {
    /// An empty store.
    pub fn new() -> MemStateStore {
        MemStateStore::default()
    }
}

impl StateStore for MemStateStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(key).cloned())
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(key.to_string(), value.to_vec());
        Ok(())
    }
}

/// A state store in Redis: `GET` and `SET` on every message, over a small
/// pool of blocking connections (one per thread running a guest at a time).
pub struct RedisStateStore {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
}

impl RedisStateStore {
    /// Connects to `url` (`redis://host:port`) and checks the server answers.
    pub fn connect(url: &str) -> Result<RedisStateStore, StateError> {
        let client = redis::Client::open(url).map_err(|e| StateError(e.to_string()))?;
        let store = RedisStateStore {
            client,
            idle: Mutex::new(Vec::new()),
        };
        store.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StateError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self
                .client
                .get_connection()
                .map_err(|e| StateError(e.to_string()))?,
        };
        let out = blocking(|| f(&mut conn)).map_err(|e| StateError(e.to_string()));
        if out.is_ok() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
        out
    }
}

impl StateStore for RedisStateStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.with(|c| redis::cmd("GET").arg(key).query(c))
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        self.with(|c| redis::cmd("SET").arg(key).arg(value).query::<()>(c))
    }
}

/// Runs blocking store I/O from a runtime thread without starving the
/// runtime's other tasks (on a multi-threaded runtime).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
