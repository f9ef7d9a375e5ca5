//! `echo` (anycast): replies with the payload unchanged.
//!
//! It keeps no state. Any instance can take any message, which makes it the
//! simplest function to deploy, load-test and measure the platform with.

use goldfish_guest::{export_actor, Actor, Context, Error};

/// The echo actor (no state).
#[derive(Default)]
pub struct Echo;

impl Actor for Echo {
    fn handle(&mut self, _ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(input.to_vec())
    }
}

export_actor!(Echo);

#[cfg(test)]
mod tests {
    use super::*;
    use goldfish_guest::testing::Mock;

    #[test]
    fn echoes() {
        let mut mock = Mock::new();
        let mut echo = Echo;
        assert_eq!(mock.handle(&mut echo, b"hello"), Ok(b"hello".to_vec()));
        assert_eq!(mock.handle(&mut echo, b""), Ok(Vec::new()));
        assert_eq!(mock.handle(&mut echo, &[0, 255]), Ok(vec![0, 255]));
    }
}
