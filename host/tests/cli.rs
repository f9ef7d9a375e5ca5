//! The `goldfish` binary's HTTP commands against a node served in this test:
//! deploy, invoke from an argument, a file and stdin, actors, undeploy.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use goldfish_host::http::{HttpConfig, Ingress};
use goldfish_host::Node;

const ADMIN: &str = "cli-admin";

fn goldfish(url: &str, args: &[&str], stdin: Option<&[u8]>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_goldfish"))
        .args(args)
        .env("GOLDFISH_URL", url)
        .env("GOLDFISH_ADMIN_TOKEN", ADMIN)
        .env_remove("GOLDFISH_INVOKE_TOKEN")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run goldfish");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_invoke_list_and_undeploy_from_the_command_line() {
    let node = Node::builder().name("n1").build().unwrap();
    let ingress = Ingress::start(
        node.clone(),
        HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_token: Some(ADMIN.into()),
            ..HttpConfig::default()
        },
    )
    .await
    .unwrap();
    let url = format!("http://{}", ingress.local_addr());
    let wasm = format!(
        "{}/../examples/wasm/counter.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = |args: Vec<String>, stdin: Option<Vec<u8>>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            goldfish(&url, &args, stdin.as_deref())
        })
    };
    let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let (ok, out, err) = run(
        a(&["deploy", "counter", &wasm, "--set", "idle_ms=60000"]),
        None,
    )
    .await
    .unwrap();
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("deployed counter"), "{out}");
    let (ok, out, _) = run(a(&["invoke", "counter/k", "tick"]), None)
        .await
        .unwrap();
    assert!(ok);
    assert_eq!(out, "1");
    let file = std::env::temp_dir().join(format!("goldfish-cli-{}.txt", std::process::id()));
    std::fs::write(&file, "tick").unwrap();
    let (ok, out, _) = run(
        a(&["invoke", "counter/k", "--file", file.to_str().unwrap()]),
        None,
    )
    .await
    .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(ok);
    assert_eq!(out, "2");
    let (ok, out, _) = run(a(&["invoke", "counter/k", "-"]), Some(b"tick".to_vec()))
        .await
        .unwrap();
    assert!(ok);
    assert_eq!(
        out, "3",
        "the actor kept its count across three ways of sending"
    );
    let (ok, out, _) = run(a(&["actors"]), None).await.unwrap();
    assert!(ok);
    assert!(
        out.contains("counter/k") && out.contains("SUSPENDED"),
        "{out}"
    );
    // Errors are one clear line and a failing exit status.
    let (ok, _, err) = run(a(&["invoke", "nosuch", "x"]), None).await.unwrap();
    assert!(!ok);
    assert!(
        err.starts_with("error: 404 function `nosuch` is not deployed"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let (ok, _, err) = run(a(&["deploy", "x", "/no/such/file.wasm"]), None)
        .await
        .unwrap();
    assert!(!ok && err.contains("reading /no/such/file.wasm"), "{err}");
    let (ok, out, _) = run(a(&["undeploy", "counter"]), None).await.unwrap();
    assert!(ok, "{out}");
    assert!(node.functions().is_empty());
    ingress.stop().await;
    let (ok, _, err) = run(a(&["actors"]), None).await.unwrap();
    assert!(!ok && err.contains("is `goldfish serve` running?"), "{err}");
}
