#!/usr/bin/env bash
# Sets up and runs the main job: build berth, start a daemon, make a busybox base image, run a
# web server container and show it answering. Leaves nothing behind unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build -p berth
BERTH=$PWD/target/debug/berth
DIR=${DEMO_DIR:-/tmp/berth-demo}
mkdir -p "$DIR"
export BERTH_HOST=unix://$DIR/berth.sock
"$BERTH" daemon --host "$BERTH_HOST" --data-root "$DIR/data" --exec-root "$DIR/exec" \
  --cgroup-parent /berth-demo --bridge berthdemo0 >"$DIR/daemon.log" 2>&1 &
daemon=$!
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo "daemon left running (pid $daemon); BERTH_HOST=$BERTH_HOST"
    return
  fi
  "$BERTH" rm -f web >/dev/null 2>&1 || true
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  # The daemon leaves its bridge and nftables table for the next start, as Docker does.
  ip link delete berthdemo0 2>/dev/null || true
  nft delete table ip berth-berthdemo0 2>/dev/null || true
  for cg in /sys/fs/cgroup/*/berth-demo /sys/fs/cgroup/unified/berth-demo; do
    [ -d "$cg" ] && rmdir "$cg" 2>/dev/null || true
  done
}
trap cleanup EXIT
for _ in $(seq 100); do "$BERTH" version >/dev/null 2>&1 && break; sleep 0.1; done
scripts/busybox-rootfs.sh "$DIR/busybox.tar"
"$BERTH" import "$DIR/busybox.tar" busybox
"$BERTH" run -d --name web -p 127.0.0.1:${DEMO_PORT:-18080}:8080 busybox httpd -f -p 8080 -h /var/www
"$BERTH" ps
"$BERTH" port web
# The published port, from the host (through the daemon's port proxy on loopback):
answered=
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:${DEMO_PORT:-18080}/" 2>/dev/null && { answered=1; break; }; sleep 0.1; done
[ -n "$answered" ] || { echo "the web container did not answer on its published port" >&2; exit 1; }
# and the server from inside its own container:
"$BERTH" exec web wget -qO- http://127.0.0.1:8080/
