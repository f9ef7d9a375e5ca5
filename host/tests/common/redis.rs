//! A real Redis for the tests: `GOLDFISH_REDIS_URL`'s, or a `redis-server`
//! started here on a free loopback port (shared by the tests that run at the
//! same time, killed when the last of them ends). With neither, the tests
//! fail: they never pass without having talked to Redis.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use goldfish_host::registry::RedisRegistry;

const NOT_FOUND: &str =
    "redis-server not found: install it (apt install redis-server) or set GOLDFISH_REDIS_URL";

/// A `redis-server` this test process started; killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// Starts `redis-server` on `port` (a free one if `None`) and waits until
    /// it answers PING.
    pub fn start(port: Option<u16>) -> Server {
        let mut last = String::new();
        for _ in 0..5 {
            let port = port.unwrap_or_else(free_port);
            let child = [
                "redis-server",
                "/usr/bin/redis-server",
                "/usr/local/bin/redis-server",
            ]
            .iter()
            .find_map(|bin| {
                Command::new(bin)
                    .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                    .arg("--dir")
                    .arg(std::env::temp_dir())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{NOT_FOUND}"));
            let mut server = Server { child, port };
            match server.wait_for_ping() {
                Ok(()) => return server,
                // Dropping `server` kills it; try another port (someone may
                // have taken this one between our probe and its bind).
                Err(e) => last = e,
            }
        }
        panic!("redis-server did not start: {last}")
    }

    fn wait_for_ping(&mut self) -> Result<(), String> {
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited: {status}",
                    self.port
                ));
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "redis-server on port {} did not answer PING within 5 s",
            self.port
        ))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// The server the tests talk to: `GOLDFISH_REDIS_URL`'s, or ours.
pub struct Redis {
    pub url: String,
    pub _server: Option<Arc<Server>>,
}

/// Our server, shared by the tests that run at the same time.
static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());

pub fn redis() -> Redis {
    if let Ok(url) = std::env::var("GOLDFISH_REDIS_URL") {
        if !url.is_empty() {
            return Redis { url, _server: None };
        }
    }
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let server = shared.upgrade().unwrap_or_else(|| {
        let s = Arc::new(Server::start(None));
        *shared = Arc::downgrade(&s);
        s
    });
    Redis {
        url: server.url(),
        _server: Some(server),
    }
}

/// One test's cluster: a name no other test (or earlier run) uses, whose
/// keys are deleted when it is dropped (so a shared server keeps no garbage).
pub struct Cluster {
    pub url: String,
    pub name: String,
}

impl Cluster {
    pub fn new(redis: &Redis, test: &str) -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Cluster {
            url: redis.url.clone(),
            name: format!("{test}-{}-{nanos}", std::process::id()),
        }
    }

    pub async fn connect(&self) -> RedisRegistry {
        RedisRegistry::connect(&self.url, &self.name)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        use redis::Commands;
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
            return;
        };
        let keys: Vec<String> = match con.scan_match(format!("gf:{{{}}}:*", self.name)) {
            Ok(iter) => iter.collect(),
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: Result<(), _> = con.del(keys);
        }
    }
}
