//! A registry in Redis, for a cluster of processes.
//!
//! Same semantics as [`MemRegistry`](super::MemRegistry), with Redis's own
//! clock deciding when a lease has lapsed (keys with a `PX` expiry). Every
//! operation that reads and then writes is one Lua script, so it is one atomic
//! step on the server; the client holds one reconnecting connection
//! ([`redis::aio::ConnectionManager`]), multiplexed among callers.
//!
//! # Key layout
//!
//! Every key of cluster `C` starts with `gf:{C}:`. The braces are literal: in a
//! Redis Cluster they are a hash tag, so all keys of one GoldFish cluster live
//! in one slot and the scripts may touch them together. `NODE` is a node name
//! (`[A-Za-z0-9][A-Za-z0-9._-]*`); `ACTOR` is an [`ActorId`] as displayed
//! (`function/key` or `function#n`; a function name holds neither `/` nor `#`,
//! so the form is unambiguous).
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `gf:{C}:epoch` | string (integer) | the cluster's epoch counter (`INCR`); never expires |
//! | `gf:{C}:lease:NODE` | string, `PX` ttl | the node's live lease: its epoch |
//! | `gf:{C}:info:NODE` | string, `PX` ttl | the node's [`NodeInfo`] as JSON; set with the lease, expires with it |
//! | `gf:{C}:nodes` | set | names of nodes that heartbeated and did not withdraw; may hold lapsed nodes until `members` prunes them |
//! | `gf:{C}:placed:NODE` | set of `ACTOR` | actors the node claimed (may hold stale entries: each is checked against the placement) |
//! | `gf:{C}:actor:ACTOR` | hash `{owner, epoch}` | the actor's placement: the owner and the owner's epoch at the claim |
//!
//! A placement is live only while `GET gf:{C}:lease:{owner}` equals its
//! `epoch`: a lapsed lease voids it at once (the key is gone), and a rejoin
//! gets a new epoch, so the old placement stays void even once the node is
//! back.
//!
//! # Scripts
//!
//! - **heartbeat** (`KEYS`: lease, info, epoch, nodes, placed; `ARGV`: ttl ms,
//!   info JSON, node, actor key prefix): if the lease key exists, keep its
//!   epoch; else start a new epoch (`INCR` the counter, seeding it first from
//!   the server's `TIME` in microseconds if it is missing, so that epochs never
//!   repeat even when a Redis without persistence restarts empty) and delete
//!   the node's old placements, all void now. Then set lease and info with
//!   `PX` ttl and add the node to `nodes`. Returns the epoch. (A zero ttl makes
//!   a lease that is already over: a new epoch, no lease or info key.)
//! - **withdraw** (`KEYS`: lease, info, nodes, placed; `ARGV`: node, actor key
//!   prefix): deletes every placement in `placed` whose owner is the node, then
//!   `placed`, lease and info, and removes the node from `nodes`.
//! - **members** (`KEYS`: nodes; `ARGV`: key prefix `gf:{C}:`): for each name
//!   in `nodes`, returns its info if its lease and info keys exist; otherwise
//!   prunes it: removes it from `nodes` and deletes its (void) placements and
//!   `placed` set, as withdraw does. This is how garbage from nodes that died
//!   without withdrawing goes away; we keep a set rather than `SCAN` the lease
//!   keys because `SCAN` is O(keyspace) and cannot run inside a script.
//! - **owner** (`KEYS`: actor; `ARGV`: lease key prefix): reads the placement's
//!   owner and epoch and returns the owner if its lease key holds that epoch,
//!   else nil. Reads only.
//! - **claim** (`KEYS`: actor, the node's lease, the node's placed; `ARGV`:
//!   node, lease key prefix, `ACTOR`): if the placement is live (as in owner),
//!   returns its owner; else if the node holds no lease, returns nil (the
//!   caller's `NoLease`); else writes the placement `{owner: node, epoch: the
//!   lease's epoch}`, adds `ACTOR` to the node's `placed` and returns the node.
//! - **release** (`KEYS`: actor, the node's placed; `ARGV`: node, `ACTOR`):
//!   deletes the placement if its owner is the node (whatever the epoch), and
//!   removes `ACTOR` from the node's `placed`.
//!
//! A ttl is sent in whole milliseconds rounded up, so Redis never ends a lease
//! before the node expects it to end (which could let another node claim an
//! actor the first still runs).

use std::time::Duration;

use goldfish_core::transport::BoxFuture;
use goldfish_core::{ActorId, NodeId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use super::{Lease, NodeInfo, Registry, RegistryError};

const HEARTBEAT: &str = r#"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  if redis.call('EXISTS', KEYS[3]) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', KEYS[3], t[1] .. string.format('%06d', tonumber(t[2])))
  end
  redis.call('INCR', KEYS[3])
  epoch = redis.call('GET', KEYS[3])
  for _, a in ipairs(redis.call('SMEMBERS', KEYS[5])) do
    local k = ARGV[4] .. a
    if redis.call('HGET', k, 'owner') == ARGV[3] then
      redis.call('DEL', k)
    end
  end
  redis.call('DEL', KEYS[5])
end
if tonumber(ARGV[1]) > 0 then
  redis.call('SET', KEYS[1], epoch, 'PX', ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
  redis.call('SADD', KEYS[4], ARGV[3])
else
  redis.call('DEL', KEYS[1], KEYS[2])
end
return epoch
"#;

const WITHDRAW: &str = r#"
for _, a in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local k = ARGV[2] .. a
  if redis.call('HGET', k, 'owner') == ARGV[1] then
    redis.call('DEL', k)
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"#;

const MEMBERS: &str = r#"
local p = ARGV[1]
local out = {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local info = redis.call('GET', p .. 'info:' .. n)
  if info and redis.call('EXISTS', p .. 'lease:' .. n) == 1 then
    table.insert(out, info)
  else
    local placed = p .. 'placed:' .. n
    for _, a in ipairs(redis.call('SMEMBERS', placed)) do
      local k = p .. 'actor:' .. a
      if redis.call('HGET', k, 'owner') == n then
        redis.call('DEL', k)
      end
    end
    redis.call('DEL', placed, p .. 'info:' .. n)
    redis.call('SREM', KEYS[1], n)
  end
end
return out
"#;

const OWNER: &str = r#"
local p = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
if p[1] and redis.call('GET', ARGV[1] .. p[1]) == p[2] then
  return p[1]
end
return false
"#;

const CLAIM: &str = r#"
local p = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
if p[1] and redis.call('GET', ARGV[2] .. p[1]) == p[2] then
  return p[1]
end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  return false
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', epoch)
redis.call('SADD', KEYS[3], ARGV[3])
return ARGV[1]
"#;

const RELEASE: &str = r#"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"#;

/// The longest lease sent to Redis (ten years); longer ones are cut to it.
const MAX_TTL_MS: u128 = 10 * 365 * 24 * 3600 * 1000;

struct Scripts {
    heartbeat: Script,
    withdraw: Script,
    members: Script,
    owner: Script,
    claim: Script,
    release: Script,
}

/// A registry kept in a Redis server (see the module docs for the key layout
/// and the scripts). Cheap to share: put it in an `Arc<dyn Registry>`.
pub struct RedisRegistry {
    conn: ConnectionManager,
    /// `gf:{cluster}:`
    prefix: String,
    /// The URL without its password, for messages.
    url: String,
    scripts: Scripts,
}

impl RedisRegistry {
    /// How long a connection attempt or a command may take before it fails
    /// with [`RegistryError::Unavailable`], with [`connect`](Self::connect).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Connects to `url` (`redis://[user:password@]host:port[/db]`, or
    /// `redis+unix:///path`; TLS is not built in); every key lives under
    /// `gf:{cluster}:`, so several clusters can share one server.
    ///
    /// Fails with [`RegistryError::Unavailable`] (naming the URL, without its
    /// password) if the URL is malformed, the server cannot be reached within
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) or refuses the connection,
    /// or `cluster` is empty or holds `{`, `}` or control characters.
    pub async fn connect(url: &str, cluster: &str) -> Result<RedisRegistry, RegistryError> {
        RedisRegistry::connect_with_timeout(url, cluster, RedisRegistry::DEFAULT_TIMEOUT).await
    }

    /// [`connect`](Self::connect), with `timeout` bounding each connection
    /// attempt and each command (keep it well under the lease ttl, so that a
    /// node learns in time that it cannot renew).
    pub async fn connect_with_timeout(
        url: &str,
        cluster: &str,
        timeout: Duration,
    ) -> Result<RedisRegistry, RegistryError> {
        let shown = redact(url);
        if cluster.is_empty()
            || cluster
                .chars()
                .any(|c| matches!(c, '{' | '}') || c.is_control())
        {
            return Err(RegistryError::Unavailable(format!(
                "bad cluster name {cluster:?} for the redis registry at {shown}: \
                 it must be non-empty, without braces or control characters"
            )));
        }
        let client = redis::Client::open(url).map_err(|e| {
            RegistryError::Unavailable(format!(
                "bad redis URL `{shown}` ({e}); expected redis://host:port[/db]"
            ))
        })?;
        // One attempt per (re)connection: a command that finds the connection
        // broken fails at once and starts the next attempt, rather than
        // waiting through a backoff longer than a lease.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| {
                RegistryError::Unavailable(format!(
                    "cannot connect to redis at {shown}: {e} (is redis-server running there?)"
                ))
            })?;
        Ok(RedisRegistry {
            conn,
            prefix: format!("gf:{{{cluster}}}:"),
            url: shown,
            scripts: Scripts {
                heartbeat: Script::new(HEARTBEAT),
                withdraw: Script::new(WITHDRAW),
                members: Script::new(MEMBERS),
                owner: Script::new(OWNER),
                claim: Script::new(CLAIM),
                release: Script::new(RELEASE),
            },
        })
    }

    fn key(&self, kind: &str, name: impl std::fmt::Display) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    fn kind_prefix(&self, kind: &str) -> String {
        format!("{}{kind}:", self.prefix)
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Unavailable(format!("redis at {}: {what} failed: {e}", self.url))
    }

    fn node_id(&self, s: &str) -> Result<NodeId, RegistryError> {
        NodeId::new(s).map_err(|e| self.failed("reading a node name", format!("{s:?}: {e}")))
    }
}

/// `url` with any password replaced by `***`.
fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let start = scheme_end + 3;
        let end = out[start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..end].rfind('@') {
            let userinfo = &out[start..start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(start + colon + 1..start + at, "***");
            }
        }
    }
    // Unix socket URLs carry the password as `?pass=`.
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k @ ("pass" | "password"), _)) => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// `ttl` in whole milliseconds, rounded up, at most [`MAX_TTL_MS`].
fn ttl_ms(ttl: Duration) -> u64 {
    let ms = ttl.as_nanos().div_ceil(1_000_000).min(MAX_TTL_MS);
    // MAX_TTL_MS fits in a u64.
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl Registry for RedisRegistry {
    fn heartbeat(
        &self,
        info: NodeInfo,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Lease, RegistryError>> {
        Box::pin(async move {
            let node = info.node;
            let json =
                serde_json::to_string(&info).map_err(|e| self.failed("encoding node info", e))?;
            let epoch: u64 = self
                .scripts
                .heartbeat
                .key(self.key("lease", node))
                .key(self.key("info", node))
                .key(format!("{}epoch", self.prefix))
                .key(format!("{}nodes", self.prefix))
                .key(self.key("placed", node))
                .arg(ttl_ms(ttl))
                .arg(json)
                .arg(node.as_str())
                .arg(self.kind_prefix("actor"))
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.failed("heartbeat", e))?;
            Ok(Lease { epoch, ttl })
        })
    }

    fn withdraw(&self, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>> {
        Box::pin(async move {
            let _: i64 = self
                .scripts
                .withdraw
                .key(self.key("lease", node))
                .key(self.key("info", node))
                .key(format!("{}nodes", self.prefix))
                .key(self.key("placed", node))
                .arg(node.as_str())
                .arg(self.kind_prefix("actor"))
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.failed("withdraw", e))?;
            Ok(())
        })
    }

    fn members(&self) -> BoxFuture<'_, Result<Vec<NodeInfo>, RegistryError>> {
        Box::pin(async move {
            let raw: Vec<String> = self
                .scripts
                .members
                .key(format!("{}nodes", self.prefix))
                .arg(&self.prefix)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.failed("members", e))?;
            let mut v: Vec<NodeInfo> = raw
                .iter()
                .filter_map(|s| match serde_json::from_str::<NodeInfo>(s) {
                    Ok(info) => Some(info),
                    Err(e) => {
                        tracing::warn!(url = %self.url, error = %e, info = %s, "skipping unreadable node info");
                        None
                    }
                })
                .collect();
            v.sort_by_key(|i| i.node);
            Ok(v)
        })
    }

    fn owner(&self, actor: ActorId) -> BoxFuture<'_, Result<Option<NodeId>, RegistryError>> {
        Box::pin(async move {
            let owner: Option<String> = self
                .scripts
                .owner
                .key(self.key("actor", actor))
                .arg(self.kind_prefix("lease"))
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.failed("owner", e))?;
            owner.map(|s| self.node_id(&s)).transpose()
        })
    }

    fn claim(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<NodeId, RegistryError>> {
        Box::pin(async move {
            let owner: Option<String> = self
                .scripts
                .claim
                .key(self.key("actor", actor))
                .key(self.key("lease", node))
                .key(self.key("placed", node))
                .arg(node.as_str())
                .arg(self.kind_prefix("lease"))
                .arg(actor.to_string())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.failed("claim", e))?;
            match owner {
                Some(s) => self.node_id(&s),
                None => Err(RegistryError::NoLease(node)),
            }
        })
    }

    fn release(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>> {
        Box::pin(async move {
            let _: i64 = self
                .scripts
                .release
                .key(self.key("actor", actor))
                .key(self.key("placed", node))
                .arg(node.as_str())
                .arg(actor.to_string())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| self.failed("release", e))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(redact("redis://u:secret@h:1/2"), "redis://u:***@h:1/2");
        assert_eq!(redact("redis://:p@ss@h:1"), "redis://:***@h:1");
        assert_eq!(redact("redis://user@h"), "redis://user@h");
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?db=1&pass=secret"),
            "redis+unix:///tmp/r.sock?db=1&pass=***"
        );
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_ms(Duration::ZERO), 0);
        assert_eq!(ttl_ms(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_ms(Duration::from_millis(300)), 300);
        assert_eq!(ttl_ms(Duration::MAX), 315_360_000_000);
    }
}
