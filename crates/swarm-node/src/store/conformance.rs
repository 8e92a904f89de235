//! The conformance suite every [`Store`](super::Store) must pass.
