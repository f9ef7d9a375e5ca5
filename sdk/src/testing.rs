//! An in-process mock of the GoldFish host, for native unit tests of actors.
//!
//! Only on targets other than wasm32. The host functions the SDK calls go to
//! a per-thread mock that behaves like the real host (the same return codes,
//! and a panic where the real host would trap the guest), records what the
//! actor did and answers its calls from results you script.
//!
//! ```
//! use goldfish_guest::testing::{Mock, Next};
//! use goldfish_guest::{Actor, Context, Disposition, Error};
//!
//! /// Asks `upper` to shout the payload; stops on `bye`.
//! #[derive(Default)]
//! struct Forward;
//!
//! impl Actor for Forward {
//!     fn handle(&mut self, ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
//!         if input == b"bye" {
//!             ctx.next(Disposition::Stop);
//!             return Ok(b"bye".to_vec());
//!         }
//!         Ok(ctx.call("upper", input)?)
//!     }
//! }
//!
//! let mut mock = Mock::new();
//! let mut actor = Forward::default();
//! mock.script_call("upper", Ok(b"HI".to_vec()));
//! assert_eq!(mock.handle(&mut actor, b"hi"), Ok(b"HI".to_vec()));
//! assert_eq!(mock.calls(), vec![("upper".to_string(), b"hi".to_vec())]);
//!
//! // Nothing scripted: the call ends as `UnknownFunction`, and `?` fails the message.
//! assert_eq!(
//!     mock.handle(&mut actor, b"again"),
//!     Err("call failed: unknown function".to_string())
//! );
//!
//! assert_eq!(mock.handle_text(&mut actor, "bye"), Ok("bye".to_string()));
//! assert_eq!(mock.disposition(), Some(Next::Stop));
//! ```

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::marker::PhantomData;
use std::cell::RefCell;
use std::thread_local;

use crate::context::Level;
use crate::error::CallError;
use crate::Actor;

/// A disposition the actor chose, as the mock recorded it (an owned
/// [`Disposition`](crate::Disposition)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Next {
    /// [`Disposition::Any`](crate::Disposition::Any)
    Any,
    /// [`Disposition::Session`](crate::Disposition::Session) with this key.
    Session(String),
    /// [`Disposition::Refuse`](crate::Disposition::Refuse)
    Refuse,
    /// [`Disposition::Stop`](crate::Disposition::Stop)
    Stop,
}

/// The mock host's state, one per thread.
struct State {
    self_id: String,
    session: Option<String>,
    now_ms: i64,
    max_payload: usize,
    call_scripts: BTreeMap<String, VecDeque<Result<Vec<u8>, CallError>>>,
    send_scripts: BTreeMap<String, VecDeque<Result<(), CallError>>>,
    last_call_reply: Vec<u8>,
    reply: Option<Vec<u8>>,
    next: Option<Next>,
    calls: Vec<(String, Vec<u8>)>,
    sends: Vec<(String, Vec<u8>)>,
    logs: Vec<(Level, String)>,
}

impl State {
    fn new() -> State {
        State {
            self_id: "test#1".to_string(),
            session: None,
            now_ms: 0,
            max_payload: 1 << 20,
            call_scripts: BTreeMap::new(),
            send_scripts: BTreeMap::new(),
            last_call_reply: Vec::new(),
            reply: None,
            next: None,
            calls: Vec::new(),
            sends: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// The checks `send` and `call` share: `Err(code)` if they fail.
    fn check(&self, target: &[u8], payload: &[u8]) -> Result<String, i32> {
        let target = match core::str::from_utf8(target) {
            Ok(t) if crate::valid_target(t) => t.to_string(),
            _ => return Err(CallError::BadTarget.code()),
        };
        if payload.len() > self.max_payload {
            return Err(CallError::TooLarge.code());
        }
        Ok(target)
    }
}

thread_local! {
    static HOST: RefCell<State> = RefCell::new(State::new());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    HOST.with(|host| f(&mut host.borrow_mut()))
}

/// Copies a prefix of `value` into `buf`; returns the full length.
fn write_prefix(buf: &mut [u8], value: &[u8]) -> i32 {
    let n = buf.len().min(value.len());
    buf[..n].copy_from_slice(&value[..n]);
    value.len() as i32
}

/// The host functions of the ABI, on the mock state (see `crate::sys`).
pub(crate) mod host {
    use super::*;

    pub(crate) fn reply(bytes: &[u8]) {
        with(|s| {
            assert!(
                bytes.len() <= s.max_payload,
                "reply of {} bytes is over max_payload ({}): the host traps",
                bytes.len(),
                s.max_payload
            );
            s.reply = Some(bytes.to_vec());
        });
    }

    pub(crate) fn send(target: &[u8], payload: &[u8]) -> i32 {
        with(|s| {
            let target = match s.check(target, payload) {
                Ok(target) => target,
                Err(code) => return code,
            };
            let result = s
                .send_scripts
                .get_mut(&target)
                .and_then(VecDeque::pop_front)
                .unwrap_or(Ok(()));
            s.sends.push((target, payload.to_vec()));
            match result {
                Ok(()) => 0,
                Err(e) => e.code(),
            }
        })
    }

    pub(crate) fn call(target: &[u8], payload: &[u8]) -> i32 {
        with(|s| {
            let target = match s.check(target, payload) {
                Ok(target) => target,
                Err(code) => return code,
            };
            let result = s
                .call_scripts
                .get_mut(&target)
                .and_then(VecDeque::pop_front)
                .unwrap_or(Err(CallError::UnknownFunction));
            s.calls.push((target, payload.to_vec()));
            match result {
                Ok(reply) => {
                    let len = reply.len() as i32;
                    s.last_call_reply = reply;
                    len
                }
                Err(e) => {
                    s.last_call_reply.clear();
                    e.code()
                }
            }
        })
    }

    pub(crate) fn call_result(buf: &mut [u8]) -> i32 {
        with(|s| {
            let n = buf.len().min(s.last_call_reply.len());
            buf[..n].copy_from_slice(&s.last_call_reply[..n]);
            n as i32
        })
    }

    pub(crate) fn next(disposition: i32, key: &[u8]) {
        let next = match disposition {
            0 => Next::Any,
            1 => match core::str::from_utf8(key) {
                Ok(key) if crate::valid_session_key(key) => Next::Session(key.to_string()),
                _ => panic!("next: {key:?} is not a valid session key: the host traps"),
            },
            2 => Next::Refuse,
            3 => Next::Stop,
            other => panic!("next: unknown disposition code {other}: the host traps"),
        };
        with(|s| s.next = Some(next));
    }

    pub(crate) fn session(buf: &mut [u8]) -> i32 {
        with(|s| match &s.session {
            Some(key) => write_prefix(buf, key.as_bytes()),
            None => -1,
        })
    }

    pub(crate) fn self_id(buf: &mut [u8]) -> i32 {
        with(|s| write_prefix(buf, s.self_id.as_bytes()))
    }

    pub(crate) fn log(level: i32, msg: &[u8]) {
        // Cut at 4 KiB and replace invalid bytes, as the host does.
        let line = String::from_utf8_lossy(&msg[..msg.len().min(4096)]).into_owned();
        with(|s| s.logs.push((Level::from_code(level), line)));
    }

    pub(crate) fn now_ms() -> i64 {
        with(|s| s.now_ms)
    }
}

/// A handle on this thread's mock host.
///
/// [`Mock::new`] resets the mock host of the current thread (each test runs
/// on its own thread, so tests do not see each other). Use one `Mock` per
/// test; a second `Mock::new` on the same thread starts over.
///
/// Defaults: `self_id` is `test#1`, there is no session, `now_ms` is `0`,
/// `max_payload` is 1 MiB, every `send` succeeds and every `call` ends as
/// [`CallError::UnknownFunction`] unless a result was scripted.
pub struct Mock {
    // The state is thread-local, so the handle must stay on its thread.
    _thread: PhantomData<*const ()>,
}

impl Default for Mock {
    fn default() -> Mock {
        Mock::new()
    }
}

impl Mock {
    /// Resets this thread's mock host and returns a handle on it.
    pub fn new() -> Mock {
        with(|s| *s = State::new());
        Mock {
            _thread: PhantomData,
        }
    }

    /// Sets what [`Context::self_id`](crate::Context::self_id) returns.
    pub fn set_self_id(&mut self, id: &str) {
        with(|s| s.self_id = id.to_string());
    }

    /// Sets the session of the messages that follow (`None`: no session).
    pub fn set_session(&mut self, key: Option<&str>) {
        with(|s| s.session = key.map(str::to_string));
    }

    /// Sets what [`Context::now_ms`](crate::Context::now_ms) returns.
    pub fn set_now_ms(&mut self, ms: i64) {
        with(|s| s.now_ms = ms);
    }

    /// Sets the largest payload `send`, `call` and the reply may have.
    pub fn set_max_payload(&mut self, bytes: usize) {
        with(|s| s.max_payload = bytes);
    }

    /// Queues the outcome of the next `call` to `target` (results for one
    /// target are used in the order they were scripted).
    pub fn script_call(&mut self, target: &str, result: Result<Vec<u8>, CallError>) {
        with(|s| {
            s.call_scripts
                .entry(target.to_string())
                .or_default()
                .push_back(result);
        });
    }

    /// Queues the outcome of the next `send` to `target` (by default sends
    /// succeed).
    pub fn script_send(&mut self, target: &str, result: Result<(), CallError>) {
        with(|s| {
            s.send_scripts
                .entry(target.to_string())
                .or_default()
                .push_back(result);
        });
    }

    /// Delivers one message to `actor` the way `gf_handle` does.
    ///
    /// Returns the reply the caller would get (empty if the actor never
    /// replied), or the error the actor returned. The reply and disposition
    /// of the previous message are cleared first.
    pub fn handle<A: Actor>(&mut self, actor: &mut A, input: &[u8]) -> Result<Vec<u8>, String> {
        with(|s| {
            s.reply = None;
            s.next = None;
            s.last_call_reply.clear();
        });
        let status = crate::export::run(actor, input);
        with(|s| {
            if status == 0 {
                Ok(s.reply.clone().unwrap_or_default())
            } else {
                Err(s
                    .logs
                    .iter()
                    .rev()
                    .find(|(level, _)| *level == Level::Error)
                    .map(|(_, line)| line.clone())
                    .unwrap_or_default())
            }
        })
    }

    /// [`handle`](Mock::handle) for text payloads and replies (invalid UTF-8
    /// in the reply is replaced).
    pub fn handle_text<A: Actor>(&mut self, actor: &mut A, input: &str) -> Result<String, String> {
        self.handle(actor, input.as_bytes())
            .map(|reply| String::from_utf8_lossy(&reply).into_owned())
    }

    /// The reply set by the last message, if it called `reply`.
    pub fn reply(&self) -> Option<Vec<u8>> {
        with(|s| s.reply.clone())
    }

    /// The disposition the last message chose, if it chose one.
    pub fn disposition(&self) -> Option<Next> {
        with(|s| s.next.clone())
    }

    /// Every call that reached the host (valid target and size), in order:
    /// `(target, payload)`.
    pub fn calls(&self) -> Vec<(String, Vec<u8>)> {
        with(|s| s.calls.clone())
    }

    /// Every send that reached the host, in order: `(target, payload)`.
    pub fn sends(&self) -> Vec<(String, Vec<u8>)> {
        with(|s| s.sends.clone())
    }

    /// Every logged line, in order.
    pub fn logs(&self) -> Vec<(Level, String)> {
        with(|s| s.logs.clone())
    }

    /// Forgets the recorded calls, sends and logs.
    pub fn clear(&mut self) {
        with(|s| {
            s.calls.clear();
            s.sends.clear();
            s.logs.clear();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, Disposition, Error};
    use alloc::format;
    use alloc::vec;

    /// Does whatever the payload says, to reach every host function.
    #[derive(Default)]
    struct Script {
        handled: u32,
    }

    impl Actor for Script {
        fn handle(&mut self, ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
            self.handled += 1;
            let text = core::str::from_utf8(input)?;
            let (cmd, rest) = text.split_once(' ').unwrap_or((text, ""));
            let (target, body) = rest.split_once(' ').unwrap_or((rest, ""));
            let out = match cmd {
                "call" => match ctx.call(target, body.as_bytes()) {
                    Ok(reply) => format!("ok:{}", String::from_utf8_lossy(&reply)),
                    Err(e) => format!("err:{e:?}"),
                },
                "send" => format!("{:?}", ctx.send(target, body.as_bytes())),
                "next" => {
                    let d = match target {
                        "any" => Disposition::Any,
                        "refuse" => Disposition::Refuse,
                        "stop" => Disposition::Stop,
                        key => Disposition::Session(key),
                    };
                    ctx.next(d);
                    String::new()
                }
                "whoami" => format!("{} {:?} {}", ctx.self_id(), ctx.session(), ctx.now_ms()),
                "log" => {
                    ctx.log(Level::Warn, rest);
                    String::new()
                }
                "fail" => return Err(Error::new(rest)),
                "count" => format!("{}", self.handled),
                _ => return Err(Error::new("unknown command")),
            };
            Ok(out.into_bytes())
        }
    }

    #[test]
    fn calls_use_the_scripted_results() {
        let mut mock = Mock::new();
        let mut a = Script::default();
        mock.script_call("detect/7", Ok(b"first".to_vec()));
        mock.script_call("detect/7", Err(CallError::Rejected));
        mock.script_call("detect/7", Ok(Vec::new()));
        let big = vec![b'x'; 300];
        mock.script_call("big", Ok(big.clone()));
        let h = |mock: &mut Mock, a: &mut Script, s: &str| mock.handle_text(a, s).unwrap();
        assert_eq!(h(&mut mock, &mut a, "call detect/7 r1"), "ok:first");
        assert_eq!(h(&mut mock, &mut a, "call detect/7 r2"), "err:Rejected");
        assert_eq!(h(&mut mock, &mut a, "call detect/7 r3"), "ok:");
        assert_eq!(
            h(&mut mock, &mut a, "call detect/7 r4"),
            "err:UnknownFunction"
        );
        assert_eq!(h(&mut mock, &mut a, "call bad/ x"), "err:BadTarget");
        assert_eq!(
            h(&mut mock, &mut a, "call big x"),
            format!("ok:{}", "x".repeat(300))
        );
        let targets: Vec<_> = mock.calls().into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            targets,
            ["detect/7", "detect/7", "detect/7", "detect/7", "big"]
        );
        assert_eq!(mock.calls()[1].1, b"r2");

        mock.set_max_payload(16);
        let over = format!("call detect/7 {}", "y".repeat(17));
        assert_eq!(h(&mut mock, &mut a, &over), "err:TooLarge");
    }

    #[test]
    fn sends_succeed_unless_scripted() {
        let mut mock = Mock::new();
        let mut a = Script::default();
        mock.script_send("agg", Err(CallError::UnknownFunction));
        let h = |mock: &mut Mock, a: &mut Script, s: &str| mock.handle_text(a, s).unwrap();
        assert_eq!(h(&mut mock, &mut a, "send agg one"), "Err(UnknownFunction)");
        assert_eq!(h(&mut mock, &mut a, "send agg two"), "Ok(())");
        assert_eq!(h(&mut mock, &mut a, "send  x"), "Err(BadTarget)");
        assert_eq!(
            mock.sends(),
            vec![
                ("agg".to_string(), b"one".to_vec()),
                ("agg".to_string(), b"two".to_vec())
            ]
        );
    }

    #[test]
    fn dispositions_and_identity() {
        let mut mock = Mock::new();
        let mut a = Script::default();
        mock.handle_text(&mut a, "count").unwrap();
        assert_eq!(mock.disposition(), None);
        mock.handle_text(&mut a, "next stop").unwrap();
        assert_eq!(mock.disposition(), Some(Next::Stop));
        mock.handle_text(&mut a, "next refuse").unwrap();
        assert_eq!(mock.disposition(), Some(Next::Refuse));
        mock.handle_text(&mut a, "next cart-1").unwrap();
        assert_eq!(
            mock.disposition(),
            Some(Next::Session("cart-1".to_string()))
        );
        mock.handle_text(&mut a, "next any").unwrap();
        assert_eq!(mock.disposition(), Some(Next::Any));

        assert_eq!(
            mock.handle_text(&mut a, "whoami"),
            Ok("test#1 None 0".into())
        );
        let long_id = format!("counter/{}", "k".repeat(64));
        mock.set_self_id(&long_id);
        mock.set_session(Some("s-9"));
        mock.set_now_ms(1_700_000_000_000);
        assert_eq!(
            mock.handle_text(&mut a, "whoami"),
            Ok(format!("{long_id} Some(\"s-9\") 1700000000000"))
        );
        assert_eq!(mock.handle_text(&mut a, "count"), Ok("8".into()));
    }

    #[test]
    #[should_panic(expected = "not a valid session key")]
    fn bad_session_key_traps() {
        let mut mock = Mock::new();
        let _ = mock.handle_text(&mut Script::default(), "next a\u{1}b");
    }

    #[test]
    fn errors_fail_the_message_and_are_logged() {
        let mut mock = Mock::new();
        let mut a = Script::default();
        assert_eq!(
            mock.handle_text(&mut a, "fail out of cheese"),
            Err("out of cheese".into())
        );
        assert_eq!(mock.reply(), None);
        assert_eq!(
            mock.handle(&mut a, &[0xff]),
            Err("invalid utf-8 sequence of 1 bytes from index 0".into())
        );
        mock.handle_text(&mut a, "log careful now").unwrap();
        assert_eq!(
            mock.logs(),
            vec![
                (Level::Error, "out of cheese".to_string()),
                (
                    Level::Error,
                    "invalid utf-8 sequence of 1 bytes from index 0".to_string()
                ),
                (Level::Warn, "careful now".to_string()),
            ]
        );
        mock.clear();
        assert!(mock.logs().is_empty());
        // A message that never replies (here: empty `Ok`) gets an empty reply.
        assert_eq!(mock.handle_text(&mut a, "log x"), Ok(String::new()));
    }

    #[test]
    fn reply_over_max_payload_traps() {
        let mut mock = Mock::new();
        mock.set_max_payload(2);
        let mut a = Script::default();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            mock.handle_text(&mut a, "count").unwrap();
            mock.handle_text(&mut a, "whoami")
        }));
        assert!(caught.is_err());
    }
}
