//! `abi_calls`: guests that call every host function of `spec/abi.md` with
//! arbitrary pointers and lengths (near the end of memory, past it,
//! negative, huge), against a model of the ABI.
//!
//! The input is a [`Program`]: a list of host calls whose arguments are
//! constants picked from [`Arg`]. It becomes a WAT module whose `gf_handle`
//! makes the calls in order, storing each result at `RESULTS + 4 * i`, and
//! optionally replies with the results. [`Model`] computes what the spec says
//! must happen: which call traps (a range outside the memory, a reply over
//! `max_payload`, a bad disposition or session key), every return code, every
//! byte the host writes into the guest's memory, and so the exact reply.
//! The node must agree: `Reply` with exactly the model's bytes, or `Failed`
//! as a trap where the model traps. It must never panic, and echo must keep
//! answering afterwards.
//!
//! As spec/abi.md says, every pointer and length a host function is given is
//! checked, whole, whether the host touches all of it or not: `log` before
//! it cuts the text to 4 KiB, `call_result`, `session` and `self_id` before
//! they copy a prefix, `session` even when there is no session, and `next`
//! for every code.

use std::fmt::Write;

use arbitrary::{Arbitrary, Unstructured};
use goldfish_core::wire::Outcome;
use goldfish_core::{FaultKind, Key, Target};
use goldfish_host::FunctionConfig;

use crate::node::{harness, Message, Run, FUZZED};

/// One 64 KiB page.
pub const PAGE: u32 = 65_536;
/// Where the data strings start.
pub const DATA: u32 = 256;
/// Where the results go (4 bytes per call).
pub const RESULTS: u32 = 2_048;
/// What `gf_alloc` returns: where the payload is written.
pub const PAYLOAD: u32 = 4_096;
/// The function's `max_payload` (small, so lengths just over it are easy).
pub const MAX_PAYLOAD: u32 = 1_024;
/// Most calls in one program.
pub const MAX_CALLS: usize = 32;
/// The session key of a message that has one.
pub const SESSION: &str = "s1";

/// The strings laid out from [`DATA`]: targets good and bad, keys good and bad.
pub const STRINGS: [&[u8]; 12] = [
    b"echo",
    b"echo/k",
    b"nope",
    b"",
    b"bad name!",
    b"echo/",
    b"echo/\n",
    b"\xff\xfe",
    b"s1",
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "echo/\u{fc}".as_bytes(),
    b"hello payload",
];

/// The payloads a message may carry.
pub fn payload(i: u8) -> Vec<u8> {
    match i % 5 {
        0 => Vec::new(),
        1 => b"x".to_vec(),
        2 => b"hello".to_vec(),
        3 => vec![0xab; 300],
        _ => vec![0x5a; MAX_PAYLOAD as usize],
    }
}

/// Offsets of [`STRINGS`] (each after the last, 1 byte apart).
pub fn string_offsets() -> Vec<u32> {
    let mut at = DATA;
    STRINGS
        .iter()
        .map(|s| {
            let o = at;
            at += s.len() as u32 + 1;
            o
        })
        .collect()
}

/// An `i32` argument of a host call.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// 0.
    Zero,
    /// A small number (also the disposition codes and log levels).
    Small(u8),
    /// Where one of [`STRINGS`] is.
    Data(u8),
    /// The length of one of [`STRINGS`].
    DataLen(u8),
    /// Where the payload is.
    Payload,
    /// Its length.
    PayloadLen,
    /// Where the results are.
    Results,
    /// `n` bytes before the end of the memory.
    End(u8),
    /// `n` bytes past the end of the memory.
    Beyond(u16),
    /// A small negative number, `-1 - n`.
    Neg(u8),
    /// `i32::MIN`.
    Min,
    /// `i32::MAX`.
    Max,
    /// The function's `max_payload`.
    MaxPayload,
    /// One over it.
    OverPayload,
    /// Where the copy of `echo` that ends exactly at the end of memory is.
    EndString,
    /// Anything.
    Raw(i32),
}

/// A host function call of the guest ABI.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostCall {
    /// `reply(ptr, len)`.
    Reply(Arg, Arg),
    /// `send(target_ptr, target_len, payload_ptr, payload_len) -> i32`.
    Send(Arg, Arg, Arg, Arg),
    /// `call(target_ptr, target_len, payload_ptr, payload_len) -> i32`.
    Call(Arg, Arg, Arg, Arg),
    /// `call_result(ptr, len) -> i32`.
    CallResult(Arg, Arg),
    /// `next(disposition, key_ptr, key_len)`.
    Next(Arg, Arg, Arg),
    /// `session(ptr, len) -> i32`.
    Session(Arg, Arg),
    /// `self_id(ptr, len) -> i32`.
    SelfId(Arg, Arg),
    /// `log(level, ptr, len)`.
    Log(Arg, Arg, Arg),
    /// `now_ms() -> i64`.
    NowMs,
}

/// A guest program: memory size, the message, the calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Memory pages: 1 or 2.
    pub pages: u32,
    /// Whether the message has the session [`SESSION`].
    pub session: bool,
    /// Which [`payload`].
    pub payload: u8,
    /// Whether `gf_handle` ends by replying with the results.
    pub report: bool,
    /// What `gf_handle` returns.
    pub ret: i32,
    /// The calls, in order.
    pub calls: Vec<HostCall>,
}

impl Program {
    /// Reads a program: a header, then calls until the bytes run out.
    pub fn parse(data: &[u8]) -> arbitrary::Result<Program> {
        let mut u = Unstructured::new(data);
        let flags = u8::arbitrary(&mut u)?;
        let payload = u8::arbitrary(&mut u)?;
        let mut calls = Vec::new();
        while !u.is_empty() && calls.len() < MAX_CALLS {
            calls.push(HostCall::arbitrary(&mut u)?);
        }
        Ok(Program {
            pages: 1 + u32::from(flags & 1),
            session: flags & 2 != 0,
            payload,
            report: flags & 4 != 0,
            // Mostly success; sometimes a guest error code.
            ret: if flags & 0xf0 == 0xf0 { -7 } else { 0 },
            calls,
        })
    }

    /// The program as bytes [`Program::parse`] reads back (for seeds).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![
            (self.pages - 1) as u8
                | u8::from(self.session) << 1
                | u8::from(self.report) << 2
                | if self.ret != 0 { 0xf0 } else { 0 },
            self.payload,
        ];
        for c in &self.calls {
            encode_call(c, &mut out);
        }
        out
    }

    /// Memory size in bytes.
    pub fn size(&self) -> u32 {
        self.pages * PAGE
    }

    /// The value of an argument in this program.
    pub fn arg(&self, a: Arg) -> i32 {
        let size = self.size() as i64;
        let v: i64 = match a {
            Arg::Zero => 0,
            Arg::Small(n) => i64::from(n),
            Arg::Data(i) => i64::from(string_offsets()[usize::from(i) % STRINGS.len()]),
            Arg::DataLen(i) => STRINGS[usize::from(i) % STRINGS.len()].len() as i64,
            Arg::Payload => i64::from(PAYLOAD),
            Arg::PayloadLen => payload(self.payload).len() as i64,
            Arg::Results => i64::from(RESULTS),
            Arg::End(n) => size - i64::from(n),
            Arg::Beyond(n) => size + i64::from(n),
            Arg::Neg(n) => -1 - i64::from(n),
            Arg::Min => i64::from(i32::MIN),
            Arg::Max => i64::from(i32::MAX),
            Arg::MaxPayload => i64::from(MAX_PAYLOAD),
            Arg::OverPayload => i64::from(MAX_PAYLOAD) + 1,
            Arg::EndString => size - 4,
            Arg::Raw(v) => i64::from(v),
        };
        v as i32
    }

    /// The guest, as WAT.
    pub fn wat(&self) -> String {
        let mut w = String::new();
        w.push_str(IMPORTS);
        let _ = writeln!(w, "  (memory (export \"memory\") {})", self.pages);
        for (s, at) in STRINGS.iter().zip(string_offsets()) {
            let _ = writeln!(w, "  (data (i32.const {at}) \"{}\")", escape(s));
        }
        let _ = writeln!(w, "  (data (i32.const {}) \"echo\")", self.size() - 4);
        let _ = writeln!(
            w,
            "  (func (export \"gf_alloc\") (param i32) (result i32) (i32.const {PAYLOAD}))"
        );
        w.push_str("  (func (export \"gf_handle\") (param i32 i32) (result i32)\n");
        for (i, c) in self.calls.iter().enumerate() {
            let at = RESULTS + 4 * i as u32;
            let a = |x: Arg| format!("(i32.const {})", self.arg(x));
            let line = match *c {
                HostCall::Reply(p, l) => format!("(call $reply {} {})", a(p), a(l)),
                HostCall::Send(tp, tl, pp, pl) => format!(
                    "(i32.store (i32.const {at}) (call $send {} {} {} {}))",
                    a(tp),
                    a(tl),
                    a(pp),
                    a(pl)
                ),
                HostCall::Call(tp, tl, pp, pl) => format!(
                    "(i32.store (i32.const {at}) (call $call {} {} {} {}))",
                    a(tp),
                    a(tl),
                    a(pp),
                    a(pl)
                ),
                HostCall::CallResult(p, l) => format!(
                    "(i32.store (i32.const {at}) (call $call_result {} {}))",
                    a(p),
                    a(l)
                ),
                HostCall::Next(d, p, l) => {
                    format!("(call $next {} {} {})", a(d), a(p), a(l))
                }
                HostCall::Session(p, l) => format!(
                    "(i32.store (i32.const {at}) (call $session {} {}))",
                    a(p),
                    a(l)
                ),
                HostCall::SelfId(p, l) => format!(
                    "(i32.store (i32.const {at}) (call $self_id {} {}))",
                    a(p),
                    a(l)
                ),
                HostCall::Log(v, p, l) => format!("(call $log {} {} {})", a(v), a(p), a(l)),
                HostCall::NowMs => "(drop (call $now_ms))".to_string(),
            };
            let _ = writeln!(w, "    {line}");
        }
        if self.report {
            let _ = writeln!(
                w,
                "    (call $reply (i32.const {RESULTS}) (i32.const {}))",
                4 * self.calls.len()
            );
        }
        let _ = writeln!(w, "    (i32.const {})))", self.ret);
        w
    }

    /// The message the program is sent.
    pub fn message(&self) -> Message {
        Message {
            payload: payload(self.payload),
            session: self.session.then(|| Key::new(SESSION).expect("valid")),
        }
    }
}

/// The host functions, imported under their own names.
pub const IMPORTS: &str = r#"(module
  (import "goldfish" "reply" (func $reply (param i32 i32)))
  (import "goldfish" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "goldfish" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (import "goldfish" "call_result" (func $call_result (param i32 i32) (result i32)))
  (import "goldfish" "next" (func $next (param i32 i32 i32)))
  (import "goldfish" "session" (func $session (param i32 i32) (result i32)))
  (import "goldfish" "self_id" (func $self_id (param i32 i32) (result i32)))
  (import "goldfish" "log" (func $log (param i32 i32 i32)))
  (import "goldfish" "now_ms" (func $now_ms (result i64)))
"#;

/// A WAT string literal's body for `bytes`.
pub fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// The function's configuration for ABI programs.
pub fn config() -> FunctionConfig {
    FunctionConfig {
        fuel: 100_000,
        memory_pages: 16,
        max_payload: MAX_PAYLOAD,
        max_instances: 4,
        // One try: the model is of one run.
        max_attempts: 1,
        // Long enough that an expiry means a hang, not a slow machine.
        timeout_ms: 10_000,
        ..FunctionConfig::default()
    }
}

/// What the spec says the message ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `Reply` with these bytes.
    Reply(Vec<u8>),
    /// `Failed` as a trap (a bad argument, or a non-zero return).
    Trap(String),
    /// The program sends or calls itself (the host wrote `fz#0` into its
    /// memory and a target points at `fz`): a loop bounded only by the
    /// deadline, not worth running.
    Skip,
}

/// The spec's account of one run of a program.
pub struct Model<'p> {
    p: &'p Program,
    mem: Vec<u8>,
    reply: Vec<u8>,
    call_reply: Vec<u8>,
}

/// A call that traps, with why.
type Trap = String;

/// The "trap" that stands for a call to the program itself.
const SELF: &str = "self";

impl<'p> Model<'p> {
    /// The memory as instantiated, with the payload written.
    pub fn new(p: &'p Program) -> Model<'p> {
        let mut mem = vec![0u8; p.size() as usize];
        for (s, at) in STRINGS.iter().zip(string_offsets()) {
            mem[at as usize..at as usize + s.len()].copy_from_slice(s);
        }
        let end = p.size() as usize;
        mem[end - 4..].copy_from_slice(b"echo");
        let pl = payload(p.payload);
        mem[PAYLOAD as usize..PAYLOAD as usize + pl.len()].copy_from_slice(&pl);
        Model {
            p,
            mem,
            reply: Vec::new(),
            call_reply: Vec::new(),
        }
    }

    fn range(&self, ptr: i32, len: i32, what: &str) -> Result<std::ops::Range<usize>, Trap> {
        let start = ptr as u32 as usize;
        let len = len as u32 as usize;
        match start.checked_add(len) {
            Some(end) if end <= self.mem.len() => Ok(start..end),
            _ => Err(format!("{what}: {start}+{len} outside {}", self.mem.len())),
        }
    }

    fn read(&self, ptr: i32, len: i32, what: &str) -> Result<Vec<u8>, Trap> {
        Ok(self.mem[self.range(ptr, len, what)?].to_vec())
    }

    fn write_prefix(&mut self, ptr: i32, len: i32, src: &[u8], what: &str) -> Result<i32, Trap> {
        // The whole range is checked, used or not.
        self.range(ptr, len, what)?;
        let n = src.len().min(len as u32 as usize);
        let r = self.range(ptr, n as i32, what)?;
        self.mem[r].copy_from_slice(&src[..n]);
        Ok(n as i32)
    }

    /// `send` and `call`'s checks: the target and payload, or a code.
    fn outgoing(&self, tp: i32, tl: i32, pp: i32, pl: i32) -> Result<Result<Vec<u8>, i32>, Trap> {
        let t = self.read(tp, tl, "target")?;
        let Some(target) = std::str::from_utf8(&t)
            .ok()
            .and_then(|s| Target::parse(s).ok())
        else {
            return Ok(Err(-1));
        };
        self.range(pp, pl, "payload")?;
        if pl as u32 > MAX_PAYLOAD {
            return Ok(Err(-2));
        }
        // Only echo and the program itself are deployed.
        let f = target.function();
        if f.as_str() == FUZZED {
            return Err(SELF.into());
        }
        if f.as_str() != "echo" {
            return Ok(Err(-3));
        }
        Ok(Ok(self.read(pp, pl, "payload")?))
    }

    /// One call: its result (stored by the guest), or a trap.
    fn call(&mut self, c: &HostCall) -> Result<Option<i32>, Trap> {
        let a = |x: Arg| self.p.arg(x);
        Ok(match *c {
            HostCall::Reply(p, l) => {
                let (p, l) = (a(p), a(l));
                if l as u32 > MAX_PAYLOAD {
                    return Err(format!("reply of {} bytes", l as u32));
                }
                self.reply = self.read(p, l, "reply")?;
                None
            }
            HostCall::Send(tp, tl, pp, pl) => {
                Some(match self.outgoing(a(tp), a(tl), a(pp), a(pl))? {
                    Err(code) => code,
                    Ok(_) => 0,
                })
            }
            HostCall::Call(tp, tl, pp, pl) => {
                Some(match self.outgoing(a(tp), a(tl), a(pp), a(pl))? {
                    Err(code) => code,
                    Ok(payload) => {
                        // Echo replies with what it gets.
                        let n = payload.len() as i32;
                        self.call_reply = payload;
                        n
                    }
                })
            }
            HostCall::CallResult(p, l) => {
                let reply = std::mem::take(&mut self.call_reply);
                let n = self.write_prefix(a(p), a(l), &reply, "call_result");
                self.call_reply = reply;
                Some(n?)
            }
            HostCall::Next(d, p, l) => {
                self.range(a(p), a(l), "session key")?;
                match a(d) {
                    0 | 2 | 3 => {}
                    1 => {
                        let bytes = self.read(a(p), a(l), "session key")?;
                        let ok = std::str::from_utf8(&bytes)
                            .ok()
                            .is_some_and(|s| Key::new(s).is_ok());
                        if !ok {
                            return Err("next: bad session key".into());
                        }
                    }
                    other => return Err(format!("next: unknown disposition {other}")),
                }
                None
            }
            HostCall::Session(p, l) => {
                self.range(a(p), a(l), "session")?;
                if !self.p.session {
                    Some(-1)
                } else {
                    self.write_prefix(a(p), a(l), SESSION.as_bytes(), "session")?;
                    Some(SESSION.len() as i32)
                }
            }
            HostCall::SelfId(p, l) => {
                let id = format!("{FUZZED}#0");
                self.write_prefix(a(p), a(l), id.as_bytes(), "self_id")?;
                Some(id.len() as i32)
            }
            HostCall::Log(_, p, l) => {
                self.range(a(p), a(l), "log")?;
                let l = (a(l) as u32).min(4096) as i32;
                self.read(a(p), l, "log")?;
                None
            }
            HostCall::NowMs => None,
        })
    }

    /// Runs the whole program.
    pub fn run(mut self) -> Expect {
        for (i, c) in self.p.calls.iter().enumerate() {
            match self.call(c) {
                Err(why) if why == SELF => return Expect::Skip,
                Err(why) => return Expect::Trap(format!("call {i} ({c:?}): {why}")),
                Ok(Some(v)) => {
                    let at = (RESULTS + 4 * i as u32) as usize;
                    self.mem[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
                Ok(None) => {}
            }
        }
        if self.p.report {
            let at = RESULTS as usize;
            self.reply = self.mem[at..at + 4 * self.p.calls.len()].to_vec();
        }
        if self.p.ret != 0 {
            return Expect::Trap(format!("gf_handle returned {}", self.p.ret));
        }
        Expect::Reply(self.reply)
    }
}

/// The whole check for one input. Panics on a violated property.
pub fn check(data: &[u8]) {
    let Ok(p) = Program::parse(data) else {
        return;
    };
    check_program(&p);
}

/// Runs `p` on the node and compares with the model.
pub fn check_program(p: &Program) {
    let wat = p.wat();
    let expect = Model::new(p).run();
    if expect == Expect::Skip {
        return;
    }
    let run = harness().deploy_and_invoke(wat.as_bytes(), config(), &p.message());
    let out = match run {
        Run::Refused(e) => panic!("the generated guest was refused: {e}\n{wat}"),
        Run::Ran(out) => out,
    };
    match (&expect, &out) {
        (Expect::Reply(want), Outcome::Reply(got)) => assert!(
            got.0 == *want,
            "reply differs from the model:\n got {:?}\nwant {:?}\n{wat}",
            got.0,
            want
        ),
        (Expect::Trap(_), Outcome::Failed(f)) if f.kind == FaultKind::Trap => {}
        _ => panic!("outcome {out:?}, but the model says {expect:?}\n{wat}"),
    }
}

fn encode_arg(a: &Arg, out: &mut Vec<u8>) {
    const N: u64 = 16;
    let (i, rest): (u64, Vec<u8>) = match *a {
        Arg::Zero => (0, vec![]),
        Arg::Small(n) => (1, vec![n]),
        Arg::Data(n) => (2, vec![n]),
        Arg::DataLen(n) => (3, vec![n]),
        Arg::Payload => (4, vec![]),
        Arg::PayloadLen => (5, vec![]),
        Arg::Results => (6, vec![]),
        Arg::End(n) => (7, vec![n]),
        Arg::Beyond(n) => (8, n.to_le_bytes().to_vec()),
        Arg::Neg(n) => (9, vec![n]),
        Arg::Min => (10, vec![]),
        Arg::Max => (11, vec![]),
        Arg::MaxPayload => (12, vec![]),
        Arg::OverPayload => (13, vec![]),
        Arg::EndString => (14, vec![]),
        Arg::Raw(v) => (15, v.to_le_bytes().to_vec()),
    };
    crate::variant(i, N, out);
    out.extend(rest);
}

fn encode_call(c: &HostCall, out: &mut Vec<u8>) {
    const N: u64 = 9;
    let (i, args): (u64, Vec<Arg>) = match *c {
        HostCall::Reply(a, b) => (0, vec![a, b]),
        HostCall::Send(a, b, c, d) => (1, vec![a, b, c, d]),
        HostCall::Call(a, b, c, d) => (2, vec![a, b, c, d]),
        HostCall::CallResult(a, b) => (3, vec![a, b]),
        HostCall::Next(a, b, c) => (4, vec![a, b, c]),
        HostCall::Session(a, b) => (5, vec![a, b]),
        HostCall::SelfId(a, b) => (6, vec![a, b]),
        HostCall::Log(a, b, c) => (7, vec![a, b, c]),
        HostCall::NowMs => (8, vec![]),
    };
    crate::variant(i, N, out);
    for a in &args {
        encode_arg(a, out);
    }
}

/// Encodes an [`Arg`] (for the block programs' seeds).
pub fn encode_arg_into(a: &Arg, out: &mut Vec<u8>) {
    encode_arg(a, out)
}

/// Encodes a [`HostCall`] (for the block programs' seeds).
pub fn encode_call_into(c: &HostCall, out: &mut Vec<u8>) {
    encode_call(c, out)
}
