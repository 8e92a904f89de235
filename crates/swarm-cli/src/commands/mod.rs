//! One module per `swarm` command, each with its flags (a clap `Args` or
//! `Subcommand`) and a `run` that carries it out.

pub(crate) mod ambassador;
pub(crate) mod arbiter;
pub(crate) mod bench;
pub(crate) mod bounty;
pub(crate) mod community;
pub(crate) mod dev;
pub(crate) mod engine;
pub(crate) mod new;
pub(crate) mod node;
pub(crate) mod scan;
pub(crate) mod stake;
pub(crate) mod wallet;
pub(crate) mod worker;
