//! `relay` (anycast): does what its payload says, to test the host functions.
//!
//! It keeps no state. Commands (text):
//!
//! | payload | what it does | reply |
//! |---|---|---|
//! | `call <target> <body>` | calls `target` with `body` | `ok:<reply>` or `err:<CallError>` (e.g. `err:UnknownFunction`) |
//! | `send <target> <body>` | sends `body` to `target` | `sent` or `err:<CallError>` |
//! | `id` | | this actor's id (`relay#n`) |
//! | `session` | | the message's session key, or `none` |
//! | `fail` | returns an error: the message fails (a guest error) | |
//! | `next <d> <command>` | sets the disposition `d` (`any`, `refuse`, `stop` or `session:<key>`), then runs `<command>` | that command's reply |
//!
//! The body is everything after the target (it may be empty or hold spaces).
//! Anything else gets a usage line as its reply.

use goldfish_guest::{export_actor, Actor, Context, Disposition, Error};

/// The relay actor (no state).
#[derive(Default)]
pub struct Relay;

/// A parsed command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `call <target> <body>`
    Call(&'a str, &'a [u8]),
    /// `send <target> <body>`
    Send(&'a str, &'a [u8]),
    /// `id`
    Id,
    /// `session`
    Session,
    /// `fail`
    Fail,
    /// `next <disposition> <command>`
    Next(&'a str, &'a [u8]),
    /// Anything else.
    Unknown,
}

/// Splits `<target> <body>`: the target ends at the first space.
fn target_and_body(rest: &[u8]) -> Option<(&str, &[u8])> {
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let target = std::str::from_utf8(&rest[..end]).ok()?;
    let body = rest.get(end + 1..).unwrap_or(&[]);
    Some((target, body))
}

/// Reads a payload as a command.
pub fn parse(input: &[u8]) -> Command<'_> {
    if let Some(rest) = input.strip_prefix(b"call ") {
        if let Some((target, body)) = target_and_body(rest) {
            return Command::Call(target, body);
        }
    }
    if let Some(rest) = input.strip_prefix(b"send ") {
        if let Some((target, body)) = target_and_body(rest) {
            return Command::Send(target, body);
        }
    }
    if let Some(rest) = input.strip_prefix(b"next ") {
        if let Some((disposition, command)) = target_and_body(rest) {
            return Command::Next(disposition, command);
        }
    }
    match input {
        b"id" => Command::Id,
        b"session" => Command::Session,
        b"fail" => Command::Fail,
        _ => Command::Unknown,
    }
}

/// Reads a disposition name.
fn disposition(name: &str) -> Option<Disposition<'_>> {
    match name {
        "any" => Some(Disposition::Any),
        "refuse" => Some(Disposition::Refuse),
        "stop" => Some(Disposition::Stop),
        _ => name.strip_prefix("session:").map(Disposition::Session),
    }
}

impl Actor for Relay {
    fn handle(&mut self, ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
        let reply = match parse(input) {
            Command::Next(name, command) => {
                let d = disposition(name).ok_or_else(|| Error::new("relay: unknown disposition"))?;
                ctx.next(d);
                return self.handle(ctx, command);
            }
            Command::Call(target, body) => match ctx.call(target, body) {
                Ok(reply) => [&b"ok:"[..], &reply].concat(),
                Err(e) => format!("err:{e:?}").into_bytes(),
            },
            Command::Send(target, body) => match ctx.send(target, body) {
                Ok(()) => b"sent".to_vec(),
                Err(e) => format!("err:{e:?}").into_bytes(),
            },
            Command::Id => ctx.self_id().into_bytes(),
            Command::Session => ctx.session().unwrap_or_else(|| "none".into()).into_bytes(),
            Command::Fail => return Err(Error::new("relay: failing on request")),
            Command::Unknown => {
                b"usage: call <target> <body> | send <target> <body> | id | session | fail".to_vec()
            }
        };
        Ok(reply)
    }
}

export_actor!(Relay);

#[cfg(test)]
mod tests {
    use super::*;
    use goldfish_guest::testing::Mock;
    use goldfish_guest::CallError;

    #[test]
    fn parses() {
        assert_eq!(
            parse(b"call echo hi there"),
            Command::Call("echo", b"hi there")
        );
        assert_eq!(parse(b"call counter/k"), Command::Call("counter/k", b""));
        assert_eq!(parse(b"call counter/k "), Command::Call("counter/k", b""));
        assert_eq!(parse(b"send sink x"), Command::Send("sink", b"x"));
        assert_eq!(parse(b"id"), Command::Id);
        assert_eq!(parse(b"session"), Command::Session);
        assert_eq!(parse(b"fail"), Command::Fail);
        assert_eq!(parse(b"call"), Command::Unknown);
        assert_eq!(parse(b"ID"), Command::Unknown);
        assert_eq!(parse(b"next refuse id"), Command::Next("refuse", b"id"));
        assert_eq!(disposition("session:s1"), Some(Disposition::Session("s1")));
        assert_eq!(disposition("sometimes"), None);
    }

    #[test]
    fn relays() {
        let mut mock = Mock::new();
        let mut r = Relay;
        mock.script_call("echo", Ok(b"hi".to_vec()));
        mock.script_call("counter/a", Err(CallError::Expired));
        mock.script_send("sink", Err(CallError::TooLarge));
        mock.set_self_id("relay#3");
        assert_eq!(mock.handle_text(&mut r, "call echo hi"), Ok("ok:hi".into()));
        assert_eq!(
            mock.handle_text(&mut r, "call counter/a"),
            Ok("err:Expired".into())
        );
        assert_eq!(
            mock.handle_text(&mut r, "call nobody x"),
            Ok("err:UnknownFunction".into())
        );
        assert_eq!(
            mock.handle_text(&mut r, "call bad/ x"),
            Ok("err:BadTarget".into())
        );
        assert_eq!(
            mock.handle_text(&mut r, "send sink x"),
            Ok("err:TooLarge".into())
        );
        assert_eq!(mock.handle_text(&mut r, "send sink y"), Ok("sent".into()));
        assert_eq!(mock.handle_text(&mut r, "id"), Ok("relay#3".into()));
        assert_eq!(mock.handle_text(&mut r, "session"), Ok("none".into()));
        mock.set_session(Some("s-1"));
        assert_eq!(mock.handle_text(&mut r, "session"), Ok("s-1".into()));
        assert!(mock.handle_text(&mut r, "fail").is_err());
        assert!(mock.handle_text(&mut r, "?").unwrap().starts_with("usage:"));
        assert_eq!(mock.sends().len(), 2);
    }
}
