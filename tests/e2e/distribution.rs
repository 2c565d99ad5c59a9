//! End-to-end tests: distribution (to be written).
