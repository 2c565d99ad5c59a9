//! End-to-end tests: network (to be written).
