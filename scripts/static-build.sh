#!/usr/bin/env bash
# Builds berth as one static executable (glibc and libseccomp linked in, no dynamic loader)
# and prints its path. `--target` keeps the static flags off build scripts and proc-macros,
# which must stay dynamic. Run the test suite against it with BERTH_BIN=<path>.
#
# glibc caveat: host names (registry hosts) still resolve through getaddrinfo, which loads
# the host's NSS modules at run time; /etc/hosts and DNS work on any glibc host of the same
# or a newer version. User and group names are read from the container's own files.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
target=x86_64-unknown-linux-gnu
export LIBSECCOMP_LINK_TYPE=static
export LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu
export RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-static}
cargo build --release -p berth --target "$target" >&2
bin=$CARGO_TARGET_DIR/$target/release/berth
if ldd "$bin" >/dev/null 2>&1; then
  echo "error: $bin is still dynamically linked" >&2
  exit 1
fi
echo "$bin"
