//! swarm-engines: ready-made engines.
//!
//! - [`eicar`]: the tutorial's "Hello World" engine, which detects the EICAR
//!   test file by exact comparison ([`EicarExact`]) or by sha256
//!   ([`EicarSha256`]).

pub mod eicar;

pub use eicar::{
    Eicar, EicarExact, EicarSha256, EicarVariant, UnknownVariant, EICAR, EICAR_FAMILY, EICAR_SHA256,
};
