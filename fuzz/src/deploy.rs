//! `wasm_deploy`: modules deployed on a node, then run once.
//!
//! The first byte picks the mode:
//!
//! - even: the rest is the module, raw (binary wasm, or WAT text, which
//!   wasmi parses too);
//! - odd: the rest chooses [`Blocks`], building blocks of a WAT module (extra
//!   imports, the memory, the exports and their signatures, a start
//!   function, data segments, a table, and statements for `gf_alloc` and
//!   `gf_handle`: host calls, loops, traps, memory growth, recursion,
//!   indirect calls...), so most inputs are modules that deploy and run.
//!
//! Deploying must return `Ok` or a [`DeployError`] about the module (invalid
//! wasm, or not the ABI), never panic; a module that deploys is sent one
//! small message under a small fuel and memory limit, any outcome but a
//! rejection is accepted, it is undeployed, and echo must still answer.

use std::fmt::Write;

use arbitrary::{Arbitrary, Unstructured};
use goldfish_host::FunctionConfig;

use crate::abi::{self, Arg, HostCall, Program};
use crate::node::{harness, Message, Run};

/// The configuration modules are deployed with: the brief's small limits.
pub fn config() -> FunctionConfig {
    FunctionConfig {
        fuel: 100_000,
        memory_pages: 16,
        max_payload: 64 << 10,
        max_instances: 4,
        max_attempts: 2,
        timeout_ms: 2_000,
        ..FunctionConfig::default()
    }
}

/// The whole check for one input. Panics on a violated property.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        run(rest);
    } else if let Ok(b) = Blocks::parse(rest) {
        run(b.wat().as_bytes());
    }
}

/// Deploys and runs one module.
pub fn run(wasm: &[u8]) -> Run {
    let msg = Message {
        payload: b"fuzz".to_vec(),
        session: None,
    };
    harness().deploy_and_invoke(wasm, config(), &msg)
}

/// An import beyond the host functions (always imported, under `$name`).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraImport {
    /// A host function imported a second time.
    Again,
    /// A host function with the wrong signature.
    WrongSignature,
    /// A name `goldfish` does not have.
    UnknownName,
    /// Another module (as `wrongabi.wat`).
    OtherModule,
    /// A memory from `goldfish`.
    Memory,
    /// A global from `goldfish`.
    Global,
}

/// The memory.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryDecl {
    /// One page, exported.
    One,
    /// `min` pages (0 to 31: over the limit of 16 from 17), exported.
    Pages(u8),
    /// `min` and `max` pages.
    Bounded(u8, u8),
    /// The largest wasm32 memory.
    Huge,
    /// Exported under another name.
    Misnamed,
    /// Not exported.
    Hidden,
    /// No memory.
    None,
}

/// How an export is declared.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// As the ABI says.
    Right,
    /// Missing.
    Missing,
    /// No result.
    NoResult,
    /// One parameter too many.
    ExtraParam,
    /// An `i64` result.
    WideResult,
}

/// A statement of a function body; it leaves nothing on the stack.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// A host call (results dropped).
    Host(HostCall),
    /// Counts to `n` (fuel).
    Loop(u16),
    /// Loops forever (only fuel ends it).
    Forever,
    /// Traps.
    Unreachable,
    /// Returns this code (from `gf_handle`; `gf_alloc` returns it as a pointer).
    Return(Arg),
    /// `memory.grow n`.
    Grow(u8),
    /// Grows until refused, then traps (as an allocator would).
    GrowUntilRefused,
    /// `i32.load` at an address.
    Load(Arg),
    /// `i32.store` at an address.
    Store(Arg, Arg),
    /// `memory.fill`.
    Fill(Arg, Arg),
    /// `memory.copy`.
    Copy(Arg, Arg, Arg),
    /// Integer division by zero.
    DivZero,
    /// Calls a function that calls itself forever.
    Recurse,
    /// `call_indirect` through the table at this index.
    CallIndirect(u8),
    /// Bumps a mutable global (state across messages).
    Bump,
}

/// A WAT module made of blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocks {
    /// Extra imports (mostly none).
    pub imports: Vec<ExtraImport>,
    /// The memory.
    pub memory: MemoryDecl,
    /// `gf_alloc`'s signature.
    pub alloc_sig: Sig,
    /// `gf_handle`'s signature.
    pub handle_sig: Sig,
    /// A start function's body, if any.
    pub start: Option<Vec<Stmt>>,
    /// Data segments: offset and length (zeros... 0xab).
    pub data: Vec<(Arg, u8)>,
    /// A table of this many entries, if any.
    pub table: Option<u8>,
    /// `gf_alloc`'s body (then it returns 1024).
    pub alloc: Vec<Stmt>,
    /// `gf_handle`'s body (then it returns 0).
    pub handle: Vec<Stmt>,
}

impl Default for Blocks {
    fn default() -> Self {
        Blocks {
            imports: vec![],
            memory: MemoryDecl::One,
            alloc_sig: Sig::Right,
            handle_sig: Sig::Right,
            start: None,
            data: vec![],
            table: None,
            alloc: vec![],
            handle: vec![],
        }
    }
}

/// How many of each list at most.
const MAX_LIST: usize = 8;

fn list<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>, max: usize) -> arbitrary::Result<Vec<T>> {
    let n = usize::from(u8::arbitrary(u)?) % (max + 1);
    (0..n).map(|_| T::arbitrary(u)).collect()
}

impl Blocks {
    /// Reads blocks; the last list, `gf_handle`'s body, takes the rest.
    pub fn parse(data: &[u8]) -> arbitrary::Result<Blocks> {
        let mut u = Unstructured::new(data);
        let flags = u8::arbitrary(&mut u)?;
        // Mostly the right shapes, so that most modules deploy.
        let imports = if flags & 1 != 0 {
            list(&mut u, 2)?
        } else {
            vec![]
        };
        let memory = if flags & 2 != 0 {
            MemoryDecl::arbitrary(&mut u)?
        } else {
            MemoryDecl::One
        };
        let (alloc_sig, handle_sig) = if flags & 4 != 0 {
            (Sig::arbitrary(&mut u)?, Sig::arbitrary(&mut u)?)
        } else {
            (Sig::Right, Sig::Right)
        };
        let start = if flags & 8 != 0 {
            Some(list(&mut u, 4)?)
        } else {
            None
        };
        let data = if flags & 16 != 0 {
            list(&mut u, 3)?
        } else {
            vec![]
        };
        let table = if flags & 32 != 0 {
            Some(u8::arbitrary(&mut u)?)
        } else {
            None
        };
        let alloc = if flags & 64 != 0 {
            list(&mut u, 3)?
        } else {
            vec![]
        };
        let mut handle = Vec::new();
        while !u.is_empty() && handle.len() < 4 * MAX_LIST {
            handle.push(Stmt::arbitrary(&mut u)?);
        }
        Ok(Blocks {
            imports,
            memory,
            alloc_sig,
            handle_sig,
            start,
            data,
            table,
            alloc,
            handle,
        })
    }

    /// The blocks as bytes [`Blocks::parse`] reads back (for seeds).
    pub fn encode(&self) -> Vec<u8> {
        let d = Blocks::default();
        let flags = u8::from(self.imports != d.imports)
            | u8::from(self.memory != d.memory) << 1
            | u8::from((self.alloc_sig, self.handle_sig) != (d.alloc_sig, d.handle_sig)) << 2
            | u8::from(self.start.is_some()) << 3
            | u8::from(!self.data.is_empty()) << 4
            | u8::from(self.table.is_some()) << 5
            | u8::from(!self.alloc.is_empty()) << 6;
        let mut out = vec![flags];
        if flags & 1 != 0 {
            out.push(self.imports.len() as u8);
            for i in &self.imports {
                crate::variant(*i as u64, 6, &mut out);
            }
        }
        if flags & 2 != 0 {
            let (i, rest): (u64, Vec<u8>) = match self.memory {
                MemoryDecl::One => (0, vec![]),
                MemoryDecl::Pages(n) => (1, vec![n]),
                MemoryDecl::Bounded(a, b) => (2, vec![a, b]),
                MemoryDecl::Huge => (3, vec![]),
                MemoryDecl::Misnamed => (4, vec![]),
                MemoryDecl::Hidden => (5, vec![]),
                MemoryDecl::None => (6, vec![]),
            };
            crate::variant(i, 7, &mut out);
            out.extend(rest);
        }
        if flags & 4 != 0 {
            crate::variant(self.alloc_sig as u64, 5, &mut out);
            crate::variant(self.handle_sig as u64, 5, &mut out);
        }
        if let Some(s) = &self.start {
            encode_stmts(s, &mut out);
        }
        if flags & 16 != 0 {
            out.push(self.data.len() as u8);
            for (a, n) in &self.data {
                abi::encode_arg_into(a, &mut out);
                out.push(*n);
            }
        }
        if let Some(t) = self.table {
            out.push(t);
        }
        if flags & 64 != 0 {
            encode_stmts(&self.alloc, &mut out);
        }
        for s in &self.handle {
            encode_stmt(s, &mut out);
        }
        out
    }

    /// A program for [`Arg`]s: one page unless the memory says otherwise.
    fn args(&self) -> Program {
        Program {
            pages: match self.memory {
                MemoryDecl::Pages(n) | MemoryDecl::Bounded(n, _) => u32::from(n % 32).max(1),
                _ => 1,
            },
            session: false,
            payload: 2,
            report: false,
            ret: 0,
            calls: vec![],
        }
    }

    /// The module, as WAT.
    pub fn wat(&self) -> String {
        let p = self.args();
        let mut w = String::from(abi::IMPORTS);
        for i in &self.imports {
            w.push_str(match i {
                ExtraImport::Again => {
                    "  (import \"goldfish\" \"reply\" (func $reply2 (param i32 i32)))\n"
                }
                ExtraImport::WrongSignature => {
                    "  (import \"goldfish\" \"send\" (func (param i32 i32) (result i32)))\n"
                }
                ExtraImport::UnknownName => "  (import \"goldfish\" \"exit\" (func (param i32)))\n",
                ExtraImport::OtherModule => "  (import \"env\" \"abort\" (func (param i32)))\n",
                ExtraImport::Memory => "  (import \"goldfish\" \"memory\" (memory 1))\n",
                ExtraImport::Global => "  (import \"goldfish\" \"g\" (global i32))\n",
            });
        }
        let _ = match self.memory {
            MemoryDecl::One => writeln!(w, "  (memory (export \"memory\") 1)"),
            MemoryDecl::Pages(n) => writeln!(w, "  (memory (export \"memory\") {})", n % 32),
            MemoryDecl::Bounded(a, b) => {
                let (a, b) = (a % 32, b % 32);
                writeln!(
                    w,
                    "  (memory (export \"memory\") {} {})",
                    a.min(b),
                    a.max(b)
                )
            }
            MemoryDecl::Huge => writeln!(w, "  (memory (export \"memory\") 65536)"),
            MemoryDecl::Misnamed => writeln!(w, "  (memory (export \"mem\") 1)"),
            MemoryDecl::Hidden => writeln!(w, "  (memory 1)"),
            MemoryDecl::None => Ok(()),
        };
        let has_memory = self.memory != MemoryDecl::None;
        w.push_str("  (global $state (mut i32) (i32.const 0))\n");
        w.push_str("  (type $thunk (func (result i32)))\n");
        w.push_str("  (func $rec (result i32) (i32.add (call $rec) (i32.const 1)))\n");
        w.push_str("  (func $seven (type $thunk) (i32.const 7))\n");
        if let Some(n) = self.table {
            let _ = writeln!(w, "  (table {} funcref)", n % 8);
            if n % 8 > 0 {
                w.push_str("  (elem (i32.const 0) $seven)\n");
            }
        }
        if has_memory {
            for (at, n) in &self.data {
                let _ = writeln!(
                    w,
                    "  (data (i32.const {}) \"{}\")",
                    p.arg(*at),
                    abi::escape(&vec![0xab; usize::from(*n)])
                );
            }
        }
        if let Some(body) = &self.start {
            w.push_str("  (func $start\n");
            self.body(&mut w, &p, body, has_memory, None);
            w.push_str("  )\n  (start $start)\n");
        }
        self.func(
            &mut w,
            &p,
            "gf_alloc",
            self.alloc_sig,
            &["i32"],
            &self.alloc,
            1024,
        );
        self.func(
            &mut w,
            &p,
            "gf_handle",
            self.handle_sig,
            &["i32", "i32"],
            &self.handle,
            0,
        );
        w.push_str(")\n");
        w
    }

    #[allow(clippy::too_many_arguments)]
    fn func(
        &self,
        w: &mut String,
        p: &Program,
        name: &str,
        sig: Sig,
        params: &[&str],
        body: &[Stmt],
        ret: i32,
    ) {
        let has_memory = self.memory != MemoryDecl::None;
        let mut params: Vec<&str> = params.to_vec();
        let result = match sig {
            Sig::Missing => return,
            Sig::Right => Some("i32"),
            Sig::NoResult => None,
            Sig::ExtraParam => {
                params.push("i32");
                Some("i32")
            }
            Sig::WideResult => Some("i64"),
        };
        let _ = write!(w, "  (func (export \"{name}\")");
        for t in &params {
            let _ = write!(w, " (param {t})");
        }
        if let Some(r) = result {
            let _ = write!(w, " (result {r})");
        }
        w.push('\n');
        self.body(w, p, body, has_memory, result);
        match result {
            Some("i64") => {
                let _ = writeln!(w, "    (i64.const {ret})");
            }
            Some(_) => {
                let _ = writeln!(w, "    (i32.const {ret})");
            }
            None => {}
        }
        w.push_str("  )\n");
    }

    fn body(&self, w: &mut String, p: &Program, body: &[Stmt], mem: bool, result: Option<&str>) {
        let a = |x: Arg| format!("(i32.const {})", p.arg(x));
        for s in body {
            let line = match *s {
                // Host calls and memory instructions need a memory to validate;
                // without one they would only make the module invalid.
                Stmt::Host(_)
                | Stmt::Grow(_)
                | Stmt::GrowUntilRefused
                | Stmt::Load(_)
                | Stmt::Store(..)
                | Stmt::Fill(..)
                | Stmt::Copy(..)
                    if !mem =>
                {
                    continue
                }
                Stmt::Host(c) => host_call(p, &c),
                Stmt::Loop(n) => format!(
                    "(block $out (loop $l (br_if $out (i32.ge_u (global.get $state) (i32.const {n}))) \
                     (global.set $state (i32.add (global.get $state) (i32.const 1))) (br $l)))"
                ),
                Stmt::Forever => "(loop $f (br $f))".into(),
                Stmt::Unreachable => "unreachable".into(),
                Stmt::Return(v) => match result {
                    Some("i64") => format!("(return (i64.const {}))", p.arg(v)),
                    Some(_) => format!("(return {})", a(v)),
                    None => "(return)".into(),
                },
                Stmt::Grow(n) => format!("(drop (memory.grow (i32.const {n})))"),
                Stmt::GrowUntilRefused => "(loop $more (br_if $more (i32.ne (memory.grow (i32.const 4)) (i32.const -1)))) unreachable".into(),
                Stmt::Load(at) => format!("(drop (i32.load {}))", a(at)),
                Stmt::Store(at, v) => format!("(i32.store {} {})", a(at), a(v)),
                Stmt::Fill(at, n) => format!("(memory.fill {} (i32.const 171) {})", a(at), a(n)),
                Stmt::Copy(d, s, n) => format!("(memory.copy {} {} {})", a(d), a(s), a(n)),
                Stmt::DivZero => "(drop (i32.div_u (i32.const 1) (i32.const 0)))".into(),
                Stmt::Recurse => "(drop (call $rec))".into(),
                Stmt::CallIndirect(i) if self.table.is_some() => {
                    format!("(drop (call_indirect (type $thunk) (i32.const {i})))")
                }
                Stmt::CallIndirect(_) => "nop".into(),
                Stmt::Bump => {
                    "(global.set $state (i32.add (global.get $state) (i32.const 1)))".into()
                }
            };
            let _ = writeln!(w, "    {line}");
        }
    }
}

/// A host call whose results are dropped.
fn host_call(p: &Program, c: &HostCall) -> String {
    let a = |x: Arg| format!("(i32.const {})", p.arg(x));
    match *c {
        HostCall::Reply(x, y) => format!("(call $reply {} {})", a(x), a(y)),
        HostCall::Send(t, tl, x, l) => {
            format!("(drop (call $send {} {} {} {}))", a(t), a(tl), a(x), a(l))
        }
        HostCall::Call(t, tl, x, l) => {
            format!("(drop (call $call {} {} {} {}))", a(t), a(tl), a(x), a(l))
        }
        HostCall::CallResult(x, y) => format!("(drop (call $call_result {} {}))", a(x), a(y)),
        HostCall::Next(d, x, y) => format!("(call $next {} {} {})", a(d), a(x), a(y)),
        HostCall::Session(x, y) => format!("(drop (call $session {} {}))", a(x), a(y)),
        HostCall::SelfId(x, y) => format!("(drop (call $self_id {} {}))", a(x), a(y)),
        HostCall::Log(v, x, y) => format!("(call $log {} {} {})", a(v), a(x), a(y)),
        HostCall::NowMs => "(drop (call $now_ms))".into(),
    }
}

fn encode_stmts(s: &[Stmt], out: &mut Vec<u8>) {
    out.push(s.len() as u8);
    for x in s {
        encode_stmt(x, out);
    }
}

fn encode_stmt(s: &Stmt, out: &mut Vec<u8>) {
    const N: u64 = 15;
    let v = |i: u64, out: &mut Vec<u8>| crate::variant(i, N, out);
    match *s {
        Stmt::Host(c) => {
            v(0, out);
            abi::encode_call_into(&c, out);
        }
        Stmt::Loop(n) => {
            v(1, out);
            out.extend(n.to_le_bytes());
        }
        Stmt::Forever => v(2, out),
        Stmt::Unreachable => v(3, out),
        Stmt::Return(a) => {
            v(4, out);
            abi::encode_arg_into(&a, out);
        }
        Stmt::Grow(n) => {
            v(5, out);
            out.push(n);
        }
        Stmt::GrowUntilRefused => v(6, out),
        Stmt::Load(a) => {
            v(7, out);
            abi::encode_arg_into(&a, out);
        }
        Stmt::Store(a, b) => {
            v(8, out);
            abi::encode_arg_into(&a, out);
            abi::encode_arg_into(&b, out);
        }
        Stmt::Fill(a, b) => {
            v(9, out);
            abi::encode_arg_into(&a, out);
            abi::encode_arg_into(&b, out);
        }
        Stmt::Copy(a, b, c) => {
            v(10, out);
            abi::encode_arg_into(&a, out);
            abi::encode_arg_into(&b, out);
            abi::encode_arg_into(&c, out);
        }
        Stmt::DivZero => v(11, out),
        Stmt::Recurse => v(12, out),
        Stmt::CallIndirect(i) => {
            v(13, out);
            out.push(i);
        }
        Stmt::Bump => v(14, out),
    }
}
