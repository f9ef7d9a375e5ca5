//! The subcommands of the `goldfish` binary.

pub(crate) mod bench;
pub(crate) mod certs;
pub(crate) mod client;
pub(crate) mod demo;
pub(crate) mod paper;
pub(crate) mod serve;
