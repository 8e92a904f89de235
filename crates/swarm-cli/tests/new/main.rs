//! `swarm new`: scaffolding crates, answering its prompts, and building and
//! testing what it generates (with cargo, so in a binary of its own).

mod interactive;
mod scaffold;
