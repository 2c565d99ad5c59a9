//! Integration tests: the registry served on 127.0.0.1 in-process, spoken to over HTTP.
#![allow(dead_code, clippy::unwrap_used)]

mod common;

mod auth;
mod crash;
mod gc;
mod manifests;
mod names;
mod reads;
mod robustness;
mod tls;
mod uploads;
