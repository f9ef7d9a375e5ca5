//! Logs: a line logged inside a message carries the message's span (its id
//! and target). In a test binary of its own, so no other test touches the
//! tracing callsites first.

mod common;

use std::io::Write;

use goldfish_host::FunctionConfig;

/// Log lines inside a message carry the message's span: its id and target.
#[test]
fn a_message_has_a_span_with_its_id_and_target() {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let node = common::node(FunctionConfig {
                max_attempts: 1,
                ..FunctionConfig::default()
            });
            let out = node.invoke(common::t("relay/k"), b"fail".to_vec()).await;
            assert!(matches!(out, goldfish_core::wire::Outcome::Failed(_)));
        });
    });
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("relay: failing on request"))
        .unwrap_or_else(|| panic!("the guest log line: {logs}"));
    assert!(
        line.contains("message{id=") && line.contains("target=relay/k"),
        "{line}"
    );
    assert!(line.contains("run{id="), "{line}");
}
