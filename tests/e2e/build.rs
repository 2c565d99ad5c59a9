//! End-to-end tests: build (to be written).
