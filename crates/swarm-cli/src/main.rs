//! `swarm`: the one binary of the swarm marketplace.

fn main() {}
