#!/usr/bin/env bash
# The whole test suite: unit and crate tests, then end-to-end tests (real daemons driven by the
# docker CLI and berth, as root), then a check that nothing leaked.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build -p berth
cargo test --workspace --exclude berth-e2e
cargo test -p berth-e2e
scripts/leak-check.sh
