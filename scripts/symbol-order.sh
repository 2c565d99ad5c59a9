#!/usr/bin/env bash
# Regenerates crates/berth/symbol-order.txt, the functions the release link puts first (see
# crates/berth/build.rs for why): builds berth with a linker map, runs a daemon under a usual
# workload (start-up, run --rm, run -d, ps, exec, logs, stop/start, rm -f, a published port, a
# volume, idle) while `perf` records each page of the binary it touches, and lists the functions
# on those pages in first-touch order. The daemon runs from a copy on a loop-mounted ext4 with
# read-ahead off and its page cache dropped, so every first touch of a 4 KiB page is one fault
# (the kernel maps only cached pages around a fault); the CLI runs from a second copy, so its
# touches stay out of that file's cache. Run it after large changes to the daemon's
# paths or its dependencies, twice: the second run sees the functions the first list hid behind
# their neighbours. Needs root, perf (linux-perf) and, for part of the workload, the docker CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
command -v perf >/dev/null || { apt-get install -y -qq linux-perf >/dev/null; }
W=$(mktemp -d /tmp/berth-order.XXXXXX)
ID=$(basename "$W" | tail -c 7 | tr -dc 'a-z0-9')
SOCK=unix://$W/b.sock
LOOP=""
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for m in $(grep -o "$W[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
  rm -rf "$W"
  ip link del "bo$ID" 2>/dev/null || true
  nft delete table ip "berth-bo$ID" 2>/dev/null || true
  nft delete table bridge "berth-bo$ID" 2>/dev/null || true
  for c in /sys/fs/cgroup/*/berth-order-"$ID" /sys/fs/cgroup/berth-order-"$ID"; do
    [ -d "$c" ] && rmdir "$c" 2>/dev/null || true
  done
}
trap cleanup EXIT

BERTH_LINK_MAP=$W/berth.map cargo build --release -p berth >&2
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
scripts/busybox-rootfs.sh "$W/busybox.tar"

truncate -s 256M "$W/fs.img"
mkfs.ext4 -q "$W/fs.img"
LOOP=$(losetup -f --show "$W/fs.img")
mkdir "$W/fs"
mount "$LOOP" "$W/fs"
mkdir "$W/fs/cli"
echo 0 >"/sys/block/${LOOP#/dev/}/queue/read_ahead_kb"
cp "$BIN" "$W/fs/berth"
cp "$BIN" "$W/fs/cli/berth"
sync
# Drops the copies' cached pages now, and keeps dropping the ones nobody maps: the daemon reads
# its whole executable once at start (to seal a copy for its shims).
python3 - "$W/fs/berth" "$W/fs/cli/berth" <<'PY' &
import os, sys, time
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[1:]]
while True:
    for fd in fds:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    time.sleep(0.0005)
PY
PIDS+=($!)

perf record -q -a -e exceptions:page_fault_user -o "$W/perf.data" &
PIDS+=($!)
RECORD=$!
for _ in $(seq 100); do [ -s "$W/perf.data" ] && break; sleep 0.05; done
"$W/fs/berth" daemon --host "$SOCK" --data-root "$W/data" --exec-root "$W/exec" \
  --cgroup-parent "/berth-order-$ID" --bridge "bo$ID" --log-level warn >"$W/daemon.log" 2>&1 &
DAEMON=$!
PIDS+=("$DAEMON")
export DOCKER_HOST=$SOCK BERTH_HOST=$SOCK DOCKER_CLI_HINTS=false
# The CLI runs from a copy of its own: its pages are another file's cache.
B=$W/fs/cli/berth
for _ in $(seq 200); do "$B" version >/dev/null 2>&1 && break; sleep 0.05; done

"$B" import "$W/busybox.tar" busybox >/dev/null
clis=("$B")
command -v docker >/dev/null && clis+=(docker)
for c in "${clis[@]}"; do
  for _ in $(seq 5); do "$c" run --rm busybox true; done
  "$c" run --rm busybox sh -c 'exit 3' || true
  ids=$(for _ in $(seq 10); do "$c" run -d busybox sleep 1000; done)
  first=$(head -1 <<<"$ids")
  "$c" ps >/dev/null
  "$c" ps -a --format '{{json .}}' >/dev/null
  "$c" images >/dev/null
  "$c" exec "$first" echo hi >/dev/null
  "$c" logs "$first" >/dev/null
  "$c" inspect "$first" >/dev/null
  "$c" top "$first" >/dev/null
  "$c" stop -t 1 "$first" >/dev/null
  "$c" start "$first" >/dev/null
  "$c" rm -f $ids >/dev/null
  "$c" run -d --name "web$ID" -p 127.0.0.1::8080 busybox httpd -f -p 8080 >/dev/null
  port=$("$c" port "web$ID" 8080 | head -1 | sed 's/.*://')
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; curl -s "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.05; done
  "$c" rm -f "web$ID" >/dev/null
  "$c" volume create "vol$ID" >/dev/null
  "$c" run --rm -v "vol$ID:/data" busybox touch /data/x
  "$c" volume rm "vol$ID" >/dev/null
  "$c" image inspect busybox >/dev/null
done
# Idle: the heap trimmer and the monitors tick.
sleep 5
kill -INT "$DAEMON"
wait "$DAEMON" || true
kill -INT "$RECORD"
wait "$RECORD" || true
perf script -i "$W/perf.data" -F comm,pid,tid,time,trace >"$W/faults.txt" 2>/dev/null
python3 scripts/symbol_order.py "$W/berth.map" "$W/faults.txt" "$DAEMON" crates/berth/symbol-order.txt "$W/order.txt"
mv "$W/order.txt" crates/berth/symbol-order.txt
if [ -n "${KEEP_TRACE:-}" ]; then mkdir -p "$KEEP_TRACE" && cp "$W/berth.map" "$W/faults.txt" "$KEEP_TRACE/" && echo "$DAEMON" >"$KEEP_TRACE/pid"; fi
