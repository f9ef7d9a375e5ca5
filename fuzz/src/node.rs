//! One tokio current-thread runtime and one [`Node`] for the wasm targets,
//! made once per process (the node is replaced every [`RECYCLE`] uses, since
//! it caches every module it has compiled).

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use goldfish_core::wire::{Outcome, Payload};
use goldfish_core::{FunctionId, Key, Target};
use goldfish_host::{Call, DeployError, FunctionConfig, Node};
use tokio::runtime::Runtime;

/// The name the fuzzed module is deployed under.
pub const FUZZED: &str = "fz";
/// The always-deployed echo function that must keep working.
pub const ECHO: &str = "echo";
/// Uses of one node before it is replaced. The node keeps every module it
/// compiled (by content) for as long as it lives, even after an undeploy,
/// so a node that saw a million distinct modules would hold them all.
pub const RECYCLE: u32 = 2_000;

/// The runtime and the node.
pub struct Harness {
    rt: Runtime,
    node: Mutex<(Node, u32)>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// The process's harness.
pub fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime");
        let node = fresh_node(&rt);
        Harness {
            rt,
            node: Mutex::new((node, 0)),
        }
    })
}

fn fresh_node(rt: &Runtime) -> Node {
    let _guard = rt.enter();
    let node = Node::builder().name("fuzz").build().expect("a node builds");
    node.deploy(ECHO, goldfish_host::guests::ECHO, FunctionConfig::default())
        .expect("echo deploys");
    node
}

/// Whether to print how long each phase takes (`GOLDFISH_FUZZ_TIMING=1`).
fn timing() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("GOLDFISH_FUZZ_TIMING").is_some())
}

/// What happened to one module.
#[derive(Debug)]
pub enum Run {
    /// The node refused the module (not wasm, or not the ABI).
    Refused(DeployError),
    /// It deployed; this is the outcome of the one message.
    Ran(Outcome),
}

/// One message for the fuzzed function.
#[derive(Clone, Debug)]
pub struct Message {
    /// Its payload.
    pub payload: Vec<u8>,
    /// Its session key, if any.
    pub session: Option<Key>,
}

impl Harness {
    /// Deploys `wasm` as [`FUZZED`] with `config`, sends it `msg` (anycast),
    /// undeploys it, and checks the node still serves echo.
    ///
    /// Panics if the deploy fails for any reason but the module's own
    /// (invalid wasm or ABI), if the outcome is a rejection a lone message
    /// cannot get, if the undeploy fails, or if echo stops answering.
    pub fn deploy_and_invoke(&self, wasm: &[u8], config: FunctionConfig, msg: &Message) -> Run {
        let mut guard = self.node.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1 += 1;
        if guard.1 > RECYCLE {
            let old = std::mem::replace(&mut guard.0, fresh_node(&self.rt));
            self.rt.block_on(old.shutdown());
            guard.1 = 1;
        }
        // Held to the end: one module at a time (tests run in threads).
        let node = guard.0.clone();
        let timing = timing();
        let t0 = std::time::Instant::now();
        let deployed = node.deploy(FUZZED, wasm, config.clone());
        if timing {
            eprintln!("deploy {:?}", t0.elapsed());
        }
        let run = match deployed {
            Err(e @ (DeployError::Invalid(_) | DeployError::Abi(_))) => Run::Refused(e),
            Err(e) => panic!("deploy refused for a reason other than the module: {e}"),
            Ok(_) => {
                let f = FunctionId::new(FUZZED).expect("valid");
                let call = Call {
                    target: Target::Function(f),
                    payload: msg.payload.clone(),
                    session: msg.session,
                    timeout: Some(Duration::from_millis(config.timeout_ms)),
                };
                let t1 = std::time::Instant::now();
                let out = self.rt.block_on(node.invoke_with(call));
                if timing {
                    eprintln!("invoke {:?}", t1.elapsed());
                }
                let t1 = std::time::Instant::now();
                if let Outcome::Rejected(r) = &out {
                    panic!("a lone message was rejected: {r:?}");
                }
                self.rt
                    .block_on(node.undeploy(FUZZED))
                    .expect("undeploy of a deployed function");
                if timing {
                    eprintln!("undeploy {:?}", t1.elapsed());
                }
                Run::Ran(out)
            }
        };
        let t1 = std::time::Instant::now();
        self.check_echo(&node);
        if timing {
            eprintln!("echo {:?}", t1.elapsed());
        }
        run
    }

    /// The node still runs its other function.
    fn check_echo(&self, node: &Node) {
        let names: Vec<String> = node.functions().iter().map(|f| f.to_string()).collect();
        assert_eq!(names, [ECHO], "functions after an undeploy");
        let echo = Target::Function(FunctionId::new(ECHO).expect("valid"));
        let out = self.rt.block_on(node.invoke(echo, b"still there".to_vec()));
        assert_eq!(
            out,
            Outcome::Reply(Payload(b"still there".to_vec())),
            "echo stopped answering"
        );
    }
}
