//! The protocol's integration tests, one binary: the registry's property
//! test and the vectors of an independent implementation.

mod invariants;
mod vectors;
