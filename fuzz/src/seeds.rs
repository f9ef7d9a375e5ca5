//! The seed corpora under `corpus/<target>/`, generated here so they stay
//! meaningful as the input formats change (`tests/corpus.rs` checks the
//! committed files match; `GOLDFISH_WRITE_SEEDS=1 cargo test --test corpus`
//! rewrites them).

use std::path::{Path, PathBuf};

use goldfish_core::wire::{self, Failure, Frame, Outcome, Payload, Request, MAX_FRAME};
use goldfish_core::{
    ActorId, ActorKey, FaultKind, FunctionId, Key, MessageId, NodeId, RejectReason, Span, Target,
};

use crate::abi::{Arg, HostCall, Program};
use crate::deploy::{Blocks, ExtraImport, MemoryDecl, Sig, Stmt};
use crate::events::{self, Event, Input, LimitsIn};

/// One seed: target, file name, bytes.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The fuzz target.
    pub target: &'static str,
    /// The file name under `corpus/<target>/`.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The fuzz crate's directory.
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut v = Vec::new();
    v.extend(frames());
    v.extend(core_events());
    v.extend(wasm_deploy());
    v.extend(abi_calls());
    v
}

fn seed(target: &'static str, name: impl Into<String>, bytes: Vec<u8>) -> Seed {
    Seed {
        target,
        name: name.into(),
        bytes,
    }
}

fn f(s: &str) -> FunctionId {
    FunctionId::new(s).expect("valid")
}

fn k(s: &str) -> Key {
    Key::new(s).expect("valid")
}

/// Encoded frames of every variant (and every outcome, reason and fault).
pub fn frames() -> Vec<Seed> {
    let request = Request {
        id: MessageId(0xfeed_beef_0000_0001),
        target: Target::Actor(f("detect"), k("field-7")),
        sender: Some(ActorId {
            function: f("ingest"),
            key: ActorKey::Instance(3),
        }),
        reply_to: Some(NodeId::new("edge-1").expect("valid")),
        session: Some(k("s1")),
        budget: Span(4_000),
        attempt: 2,
        hops: 1,
        payload: Payload(b"{\"t\":21.5}".to_vec()),
    };
    let minimal = Request {
        id: MessageId(1),
        target: Target::Function(f("echo")),
        sender: None,
        reply_to: None,
        session: None,
        budget: Span(u64::MAX),
        attempt: u32::MAX,
        hops: u8::MAX,
        payload: Payload(vec![]),
    };
    let keyed_sender = Request {
        sender: Some(ActorId {
            function: f("counter"),
            key: ActorKey::Keyed(k("sensor/7 \u{fc}")),
        }),
        ..minimal.clone()
    };
    let mut frames: Vec<(String, Frame)> = vec![
        (
            "hello".into(),
            Frame::Hello {
                node: NodeId::new("edge-1").expect("valid"),
            },
        ),
        ("request".into(), Frame::Request(request)),
        ("request-minimal".into(), Frame::Request(minimal)),
        ("request-keyed-sender".into(), Frame::Request(keyed_sender)),
        (
            "accepted".into(),
            Frame::Accepted {
                id: MessageId(u128::MAX),
            },
        ),
        ("ping".into(), Frame::Ping { nonce: 7 }),
        ("pong".into(), Frame::Pong { nonce: u64::MAX }),
        (
            "outcome-reply".into(),
            Frame::Outcome {
                id: MessageId(2),
                outcome: Outcome::Reply(Payload(vec![0xff; 200])),
            },
        ),
        (
            "outcome-expired".into(),
            Frame::Outcome {
                id: MessageId(3),
                outcome: Outcome::Expired,
            },
        ),
    ];
    for kind in [
        FaultKind::Trap,
        FaultKind::OutOfFuel,
        FaultKind::OutOfMemory,
        FaultKind::StartFailed,
        FaultKind::NodeLost,
    ] {
        frames.push((
            format!("outcome-failed-{}", kind.as_str()),
            Frame::Outcome {
                id: MessageId(4),
                outcome: Outcome::Failed(Failure {
                    kind,
                    detail: "gf_handle returned error code 7".into(),
                }),
            },
        ));
    }
    for reason in [
        RejectReason::Overloaded,
        RejectReason::Busy,
        RejectReason::TooLarge,
        RejectReason::UnknownFunction,
        RejectReason::ShuttingDown,
        RejectReason::DeadlinePassed,
        RejectReason::Unavailable,
    ] {
        frames.push((
            format!("outcome-rejected-{}", reason.as_str()),
            Frame::Outcome {
                id: MessageId(5),
                outcome: Outcome::Rejected(reason),
            },
        ));
    }
    let mut seeds: Vec<Seed> = frames
        .into_iter()
        .map(|(name, fr)| {
            seed(
                "frame_decode",
                name,
                wire::encode(&fr, MAX_FRAME).expect("encodes"),
            )
        })
        .collect();
    seeds.push(seed("frame_decode", "bad-version", vec![2, 4, 7]));
    seeds.push(seed(
        "frame_decode",
        "length-past-the-end",
        vec![wire::VERSION, 2, 1, 0xff, 0xff, 0xff, 0x0f],
    ));
    seeds
}

/// Event sequences: every kind, and a few stories.
pub fn core_events() -> Vec<Seed> {
    let arrive = |key, session, bytes, ttl| Event::Arrive {
        key,
        session,
        bytes,
        ttl,
        elsewhere: 0,
        attempt: 0,
    };
    let small = LimitsIn {
        idle: 0,         // 100
        buffer_count: 2, // 2
        buffer_bytes: 0, // 1000
        max_wait: 0,     // 50
        max_instances: 1,
        max_attempts: 0, // 2
        max_payload: 0,  // 20
    };
    let mut v = vec![seed(
        "core_events",
        "every-kind",
        events::encode(&every_kind()),
    )];
    // Anycast load past the instances and the buffer: spawns, waits, overdue, overload.
    let mut load = vec![];
    for i in 0..6 {
        load.push(arrive(0, i % 4, 1, 4));
    }
    load.extend([
        Event::Started(0),
        Event::Started(0),
        Event::Advance(60),
        Event::Finished(0),
        Event::Finished(0),
        Event::ToNextTimeout,
        Event::ToNextTimeout,
    ]);
    v.push(seed(
        "core_events",
        "anycast-overload",
        events::encode(&Input {
            limits: small,
            events: load,
        }),
    ));
    // An addressed actor busy with a queue, faults and retries, then shutdown.
    v.push(seed(
        "core_events",
        "addressed-retry-shutdown",
        events::encode(&Input {
            limits: LimitsIn {
                max_attempts: 2, // 3
                ..small
            },
            events: vec![
                arrive(3, 0, 1, 4),
                Event::Started(0),
                arrive(3, 0, 2, 4),
                arrive(3, 0, 0, 6),
                Event::Fault(0, 0),
                Event::Started(0),
                Event::SetDisposition(0, 3),
                arrive(3, 0, 1, 4),
                Event::Finished(0),
                Event::Shutdown,
                arrive(0, 0, 1, 4),
                Event::ToNextTimeout,
            ],
        }),
    ));
    // Sessions, eviction and a lease regained.
    v.push(seed(
        "core_events",
        "sessions-evict-restore",
        events::encode(&Input {
            limits: LimitsIn {
                max_instances: 3,
                buffer_count: 3,
                ..small
            },
            events: vec![
                arrive(0, 2, 1, 4),
                Event::Started(0),
                Event::SetDisposition(0, 1),
                arrive(0, 2, 1, 4),
                arrive(4, 0, 1, 4),
                arrive(5, 3, 1, 4),
                Event::Evict,
                arrive(4, 0, 1, 4),
                Event::Started(0),
                Event::Started(0),
                Event::Finished(0),
                Event::Restore,
                arrive(4, 0, 1, 5),
                Event::Jump(1 << 41),
            ],
        }),
    ));
    v
}

/// An input whose events exercise every kind (checked by a test).
pub fn every_kind() -> Input {
    let a = |key, session, bytes, ttl, elsewhere, attempt| Event::Arrive {
        key,
        session,
        bytes,
        ttl,
        elsewhere,
        attempt,
    };
    Input {
        limits: LimitsIn {
            idle: 0,
            buffer_count: 2,
            buffer_bytes: 0,
            max_wait: 0,
            max_instances: 1,
            max_attempts: 0,
            max_payload: 0,
        },
        events: vec![
            a(0, 2, 1, 4, 0, 0),
            Event::Started(0),
            Event::SetDisposition(0, 1),
            a(0, 2, 1, 4, 0, 0),
            a(3, 0, 1, 4, 0, 0),
            a(4, 0, 1, 4, 2, 0),
            Event::Illegal(0, 7),
            Event::Illegal(2, 0),
            Event::Illegal(4, 5),
            Event::Illegal(5, 1),
            Event::Illegal(6, 0),
            Event::StartFailed(1, 3),
            Event::Started(0),
            Event::Fault(1, 0),
            Event::Finished(0),
            Event::Advance(25),
            Event::Eager(2_000),
            Event::ToNextTimeout,
            Event::Evict,
            a(3, 0, 1, 4, 0, 0),
            Event::Restore,
            a(0, 0, 5, 4, 3, 5),
            Event::Jump(1 << 20),
            Event::Shutdown,
            a(0, 0, 1, 4, 0, 0),
        ],
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sorted_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

/// The example guests and the hostile WAT guests (raw mode), and block modules.
pub fn wasm_deploy() -> Vec<Seed> {
    let root = fuzz_dir().join("..");
    let mut v = Vec::new();
    for (dir, ext) in [
        (root.join("examples/wasm"), "wasm"),
        (root.join("host/tests/guests"), "wat"),
    ] {
        for p in sorted_files(&dir, ext) {
            let mut bytes = vec![0];
            bytes.extend(read(&p));
            let name = p.file_name().expect("a file").to_string_lossy();
            v.push(seed("wasm_deploy", format!("raw-{name}"), bytes));
        }
    }
    let blocks = |name: &str, b: Blocks| {
        let mut bytes = vec![1];
        bytes.extend(b.encode());
        seed("wasm_deploy", format!("blocks-{name}"), bytes)
    };
    v.push(blocks("default", Blocks::default()));
    v.push(blocks(
        "echo",
        Blocks {
            handle: vec![Stmt::Host(HostCall::Reply(Arg::Data(11), Arg::DataLen(11)))],
            data: vec![(Arg::Data(11), 13)],
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "traps",
        Blocks {
            handle: vec![Stmt::Bump, Stmt::DivZero],
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "fuel",
        Blocks {
            handle: vec![Stmt::Loop(100), Stmt::Forever],
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "membomb",
        Blocks {
            memory: MemoryDecl::Bounded(1, 20),
            handle: vec![Stmt::GrowUntilRefused],
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "recurse-indirect",
        Blocks {
            table: Some(2),
            handle: vec![Stmt::CallIndirect(0), Stmt::CallIndirect(5), Stmt::Recurse],
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "start-calls",
        Blocks {
            start: Some(vec![
                Stmt::Host(HostCall::Call(
                    Arg::Data(0),
                    Arg::DataLen(0),
                    Arg::Zero,
                    Arg::Zero,
                )),
                Stmt::Host(HostCall::Log(Arg::Small(2), Arg::Zero, Arg::Small(4))),
            ]),
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "alloc-bad-pointer",
        Blocks {
            alloc: vec![Stmt::Return(Arg::End(1))],
            handle: vec![Stmt::Load(Arg::Beyond(0))],
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "memory-too-big",
        Blocks {
            memory: MemoryDecl::Pages(17),
            data: vec![(Arg::Beyond(1), 4)],
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "bulk-memory",
        Blocks {
            handle: vec![
                Stmt::Fill(Arg::Zero, Arg::Max),
                Stmt::Copy(Arg::End(4), Arg::Zero, Arg::Small(8)),
                Stmt::Store(Arg::End(3), Arg::Min),
            ],
            ..Blocks::default()
        },
    ));
    v.push(blocks(
        "wrong-abi",
        Blocks {
            imports: vec![ExtraImport::WrongSignature, ExtraImport::OtherModule],
            memory: MemoryDecl::Misnamed,
            alloc_sig: Sig::NoResult,
            handle_sig: Sig::WideResult,
            ..Blocks::default()
        },
    ));
    v
}

/// ABI programs: good calls, bad pointers, every host function.
pub fn abi_calls() -> Vec<Seed> {
    use Arg::*;
    use HostCall as H;
    let p = |name: &str, session, payload, report, calls: Vec<HostCall>| {
        let prog = Program {
            pages: 1,
            session,
            payload,
            report,
            ret: 0,
            calls,
        };
        seed("abi_calls", name, prog.encode())
    };
    vec![
        p("echo", false, 2, false, vec![H::Reply(Payload, PayloadLen)]),
        p(
            "badptr",
            false,
            0,
            false,
            vec![H::Reply(Neg(15), Small(64))],
        ),
        p(
            "every-function",
            true,
            2,
            true,
            vec![
                H::Send(Data(0), DataLen(0), Payload, PayloadLen),
                H::Call(Data(1), DataLen(1), Data(11), DataLen(11)),
                H::CallResult(Zero, Small(64)),
                H::Next(Small(1), Data(8), DataLen(8)),
                H::Session(Small(32), Small(8)),
                H::SelfId(Small(48), Small(8)),
                H::Log(Small(2), Data(11), DataLen(11)),
                H::NowMs,
                H::Next(Small(0), Zero, Zero),
            ],
        ),
        p(
            "return-codes",
            false,
            3,
            true,
            vec![
                H::Send(Data(2), DataLen(2), Zero, Zero),
                H::Send(Data(3), DataLen(3), Zero, Zero),
                H::Send(Data(4), DataLen(4), Zero, Zero),
                H::Send(Data(0), DataLen(0), Zero, OverPayload),
                H::Call(Data(7), DataLen(7), Zero, Zero),
                H::Call(Data(10), DataLen(10), Payload, PayloadLen),
                H::Session(Neg(0), Max),
                H::CallResult(End(0), Zero),
            ],
        ),
        p(
            "end-of-memory",
            false,
            1,
            true,
            vec![
                H::Call(EndString, Small(4), End(1), Small(1)),
                H::CallResult(End(1), Max),
                H::Log(Small(9), End(0), Max),
                H::Reply(End(4), Small(4)),
            ],
        ),
        p(
            "huge-lengths",
            false,
            0,
            false,
            vec![H::Log(Small(0), Small(1), Min)],
        ),
        p(
            "target-past-end",
            false,
            0,
            false,
            vec![H::Send(End(2), Small(4), Zero, Zero)],
        ),
        p(
            "bad-disposition",
            false,
            0,
            false,
            vec![H::Next(Small(1), Data(9), DataLen(9))],
        ),
        p(
            "reply-over-max",
            false,
            4,
            false,
            vec![H::Reply(Payload, OverPayload)],
        ),
        p(
            "self-id-beyond",
            false,
            0,
            false,
            vec![H::SelfId(Beyond(0), Small(1)), H::SelfId(Raw(-4), Zero)],
        ),
        p(
            "next-codes",
            true,
            0,
            true,
            vec![
                H::Next(Small(2), Min, Min),
                H::Next(Small(3), Neg(3), Max),
                H::Next(Small(4), Zero, Zero),
            ],
        ),
    ]
}
