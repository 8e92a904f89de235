//! Helpers shared by the tests of this binary.

pub(crate) mod webdriver;
