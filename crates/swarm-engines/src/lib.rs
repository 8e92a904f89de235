//! swarm-engines: ready-made engines.
