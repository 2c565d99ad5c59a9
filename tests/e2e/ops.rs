//! End-to-end tests: ops (to be written).
