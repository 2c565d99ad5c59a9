#!/usr/bin/env bash
# Stats benchmark: N (default 50) running containers, then one `stats --no-stream` call for all
# of them with the real docker CLI and with `berth`, RUNS times each. Prints one table: median
# and best wall time, and the rows each call printed (it must be N). Also measured against a
# Docker Engine when one answers on $PEER_HOST (default unix:///run/peer.sock, then
# /var/run/docker.sock). Target: under 1 s for 50 containers (moby#29545: ~2 s per container).
#
#   sudo bench/stats.sh                 # BERTH_BIN=... to skip the release build
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
RUNS=${RUNS:-5}
scripts/deps.sh >/dev/null
if [ -z "${BERTH_BIN:-}" ]; then
  cargo build --release -q -p berth
  BERTH_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/berth"
fi
BERTH_BIN=$(readlink -f "$BERTH_BIN")
DIR=$(mktemp -d /tmp/bst.XXXXXX) # short: shim socket paths must fit in 108 bytes
ID=$(basename "$DIR" | tail -c 7 | tr -dc 'a-z0-9')
SOCK="unix://$DIR/b.sock"
PEER=""
cleanup() {
  DOCKER_HOST=$SOCK docker rm -f $(DOCKER_HOST=$SOCK docker ps -aq) >/dev/null 2>&1 || true
  [ -n "${DAEMON:-}" ] && { kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null || true; }
  for m in $(grep -o "$DIR[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  for c in /sys/fs/cgroup/*/"berth-bench-stats-$ID" /sys/fs/cgroup/"berth-bench-stats-$ID"; do [ -d "$c" ] && rmdir "$c" 2>/dev/null || true; done
  if [ -n "$PEER" ]; then
    DOCKER_HOST=$PEER docker rm -f $(DOCKER_HOST=$PEER docker ps -aq --filter label=berth-bench-stats) >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

"$BERTH_BIN" daemon --host "$SOCK" --data-root "$DIR/data" --exec-root "$DIR/x" \
  --cgroup-parent "/berth-bench-stats-$ID" --bridge "bs$ID" --log-level warn >"$DIR/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 200); do "$BERTH_BIN" -H "$SOCK" version >/dev/null 2>&1 && break; sleep 0.05; done
scripts/busybox-rootfs.sh "$DIR/busybox.tar"
"$BERTH_BIN" -H "$SOCK" import "$DIR/busybox.tar" busybox >/dev/null

# start HOST: N detached containers (a few in parallel).
start() {
  seq "$N" | xargs -P 4 -I{} env DOCKER_HOST="$1" docker run -d --label berth-bench-stats --name "bench-stats-{}" busybox sleep 100000 >/dev/null
}

# times HOST CLI: "median best rows" of RUNS `stats --no-stream` calls.
times() {
  python3 - "$1" "$2" "$RUNS" <<'PY'
import os, statistics, subprocess, sys, time
host, cli, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = dict(os.environ, DOCKER_HOST=host, BERTH_HOST=host, DOCKER_CLI_HINTS="false")
args = [cli, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}"]
out, rows = [], 0
for _ in range(runs):
    t = time.perf_counter()
    p = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    out.append(time.perf_counter() - t)
    rows = len(p.stdout.splitlines())
print(f"{statistics.median(out):.3f} {min(out):.3f} {rows}")
PY
}

start "$SOCK"
read -r D_MED D_MIN D_ROWS <<<"$(times "$SOCK" docker)"
read -r B_MED B_MIN B_ROWS <<<"$(times "$SOCK" "$BERTH_BIN")"

P="- - -"
for host in ${PEER_HOST:-unix:///run/peer.sock unix:///var/run/docker.sock}; do
  if DOCKER_HOST=$host docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    PEER=$host
    DOCKER_HOST=$PEER docker import "$DIR/busybox.tar" busybox >/dev/null
    start "$PEER"
    P=$(times "$PEER" docker)
    break
  fi
done
read -r P_MED P_MIN P_ROWS <<<"$P"

ms() { [ "$1" = - ] && echo - || awk "BEGIN{printf \"%.0f\", $1*1000}"; }
printf '\n`stats --no-stream` for %s running containers, %s runs (ms, median / best; rows printed)\n' "$N" "$RUNS"
printf '%-24s %18s %8s\n' "" "time" "rows"
printf '%-24s %18s %8s\n' "berth (docker CLI)" "$(ms "$D_MED") / $(ms "$D_MIN")" "$D_ROWS"
printf '%-24s %18s %8s\n' "berth (berth CLI)" "$(ms "$B_MED") / $(ms "$B_MIN")" "$B_ROWS"
printf '%-24s %18s %8s\n' "docker-engine" "$(ms "$P_MED") / $(ms "$P_MIN")" "$P_ROWS"
printf 'target: under 1000 ms for %s containers (moby#29545 reports ~2 s per container)\n' "$N"
