//! End-to-end tests: image_io (to be written).
