//! `counter` (addressed, one per key): counts the messages it has handled.
//!
//! State: the number of messages this actor has handled, in memory only. The
//! reply is the count in decimal (`1`, `2`, ...), so a test can see whether
//! its messages reached the same activation (the count goes on) or a fresh one
//! (it starts again at `1`).
//!
//! A payload may also be a command that, besides counting, sets the actor's
//! disposition for what comes next:
//!
//! | payload | disposition |
//! |---|---|
//! | `stop` | `Stop`: terminate after this message (the next message starts at 1) |
//! | `refuse` | `Refuse`: queue nothing for it while it runs |
//! | `any` | `Any` |
//! | `session:<key>` | `Session(key)`: messages of session `key` wait for it |
//!
//! Any other payload just counts. A `session:` key the host would not accept
//! (empty, over 64 bytes, control characters) fails the message instead of
//! trapping.

use goldfish_guest::{export_actor, valid_session_key, Actor, Context, Disposition, Error};

/// The counter actor.
#[derive(Default)]
pub struct Counter {
    /// Messages handled by this activation, this one included.
    count: u64,
}

/// What a payload asks for besides counting.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Just count.
    Count,
    /// Count and set this disposition.
    Next(Disposition<'a>),
}

/// Reads a payload as a command. Surrounding whitespace is ignored.
pub fn command(input: &[u8]) -> Command<'_> {
    let text = match std::str::from_utf8(input) {
        Ok(text) => text.trim(),
        Err(_) => return Command::Count,
    };
    match text {
        "stop" => Command::Next(Disposition::Stop),
        "refuse" => Command::Next(Disposition::Refuse),
        "any" => Command::Next(Disposition::Any),
        _ => match text.strip_prefix("session:") {
            Some(key) => Command::Next(Disposition::Session(key)),
            None => Command::Count,
        },
    }
}

impl Actor for Counter {
    fn handle(&mut self, ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
        if let Command::Next(disposition) = command(input) {
            if let Disposition::Session(key) = disposition {
                if !valid_session_key(key) {
                    return Err(Error::new(format!("bad session key {key:?}")));
                }
            }
            ctx.next(disposition);
        }
        self.count += 1;
        Ok(self.count.to_string().into_bytes())
    }

    // Deployed `stateless`, the count lives in the node's state store.
    fn save_state(&self) -> Option<Vec<u8>> {
        Some(self.count.to_le_bytes().to_vec())
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), Error> {
        let bytes: [u8; 8] = state
            .try_into()
            .map_err(|_| Error::new("counter state: expected 8 bytes"))?;
        self.count = u64::from_le_bytes(bytes);
        Ok(())
    }
}

export_actor!(Counter, state);

#[cfg(test)]
mod tests {
    use super::*;
    use goldfish_guest::testing::{Mock, Next};

    #[test]
    fn commands() {
        assert_eq!(command(b"hello"), Command::Count);
        assert_eq!(command(b"stop\n"), Command::Next(Disposition::Stop));
        assert_eq!(command(b"refuse"), Command::Next(Disposition::Refuse));
        assert_eq!(command(b" any "), Command::Next(Disposition::Any));
        assert_eq!(
            command(b"session:cart-7"),
            Command::Next(Disposition::Session("cart-7"))
        );
        assert_eq!(command(b"Stop"), Command::Count);
        assert_eq!(command(&[0xff]), Command::Count);
    }

    #[test]
    fn counts_and_sets_dispositions() {
        let mut mock = Mock::new();
        let mut c = Counter::default();
        assert_eq!(mock.handle_text(&mut c, "x"), Ok("1".into()));
        assert_eq!(mock.disposition(), None);
        assert_eq!(mock.handle_text(&mut c, "session:s1"), Ok("2".into()));
        assert_eq!(mock.disposition(), Some(Next::Session("s1".into())));
        assert_eq!(mock.handle_text(&mut c, "refuse"), Ok("3".into()));
        assert_eq!(mock.disposition(), Some(Next::Refuse));
        assert_eq!(mock.handle_text(&mut c, "any"), Ok("4".into()));
        assert_eq!(mock.disposition(), Some(Next::Any));
        assert_eq!(mock.handle_text(&mut c, "stop"), Ok("5".into()));
        assert_eq!(mock.disposition(), Some(Next::Stop));
        assert!(mock.handle_text(&mut c, "session:").is_err());
        assert_eq!(mock.disposition(), None);
        assert_eq!(mock.handle_text(&mut c, "y"), Ok("6".into()));
    }
}
