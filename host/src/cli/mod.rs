//! The subcommands of the `goldfish` binary.

pub(crate) mod bench;
pub(crate) mod demo;
