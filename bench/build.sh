#!/usr/bin/env bash
# Build benchmark: a cold build and a fully cached rebuild of the same Dockerfile (busybox
# base, a RUN, a 50 MB COPY, ENV, WORKDIR, CMD), driven by the real docker CLI with
# DOCKER_BUILDKIT=0 (and by `berth build`) against berth's release binary, and against a
# Docker Engine when one answers on $PEER_HOST (default unix:///run/peer.sock, then
# /var/run/docker.sock). Prints one table: median and best wall time of RUNS runs.
#
#   sudo bench/build.sh               # RUNS=5 SIZE_MB=50 by default
#
# "cold" is `build --no-cache` (every step runs; the context is sent each time), "cached"
# is an unchanged rebuild (every step a cache hit).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-50}
scripts/deps.sh >/dev/null
if [ -z "${BERTH_BIN:-}" ]; then
  cargo build --release -q -p berth
  BERTH_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/berth"
fi
BERTH_BIN=$(readlink -f "$BERTH_BIN")
DIR=$(mktemp -d /tmp/bbuild.XXXXXX)   # short: shim socket paths must fit in 108 bytes
ID=$(basename "$DIR" | tail -c 7 | tr -dc 'a-z0-9')
SOCK="unix://$DIR/b.sock"
cleanup() {
  DOCKER_HOST=$SOCK docker rm -f $(DOCKER_HOST=$SOCK docker ps -aq) >/dev/null 2>&1 || true
  [ -n "${DAEMON:-}" ] && { kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null || true; }
  for m in $(grep -o "$DIR[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  for c in /sys/fs/cgroup/*/"berth-bench-build-$ID"; do [ -d "$c" ] && rmdir "$c" 2>/dev/null || true; done
  # The daemon leaves its bridge and firewall table for a next start: this one has none.
  ip link del "bb$ID" 2>/dev/null || true
  nft delete table ip "berth-bb$ID" 2>/dev/null || true
  if [ -n "${PEER:-}" ]; then
    DOCKER_HOST=$PEER docker rmi -f berth-bench-build:cold berth-bench-build:cached >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

"$BERTH_BIN" daemon --host "$SOCK" --data-root "$DIR/data" --exec-root "$DIR/exec" \
  --cgroup-parent "/berth-bench-build-$ID" --bridge "bb$ID" --log-level warn >"$DIR/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 200); do "$BERTH_BIN" -H "$SOCK" version >/dev/null 2>&1 && break; sleep 0.05; done
scripts/busybox-rootfs.sh "$DIR/busybox.tar"
"$BERTH_BIN" -H "$SOCK" import "$DIR/busybox.tar" busybox >/dev/null

CTX="$DIR/ctx"
mkdir -p "$CTX"
head -c "$((SIZE_MB * 1048576))" /dev/urandom >"$CTX/blob"
cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN echo built > /built && mkdir -p /app
COPY blob /app/blob
ENV APP_ENV=bench
WORKDIR /app
CMD ["sh", "-c", "ls -l /app"]
EOF

# build_times HOST CLI MODE: median and best seconds of RUNS builds ("cold" or "cached").
build_times() {
  python3 - "$1" "$2" "$3" "$RUNS" "$CTX" <<'PY'
import os, statistics, subprocess, sys, time
host, cli, mode, runs, ctx = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
env = dict(os.environ, DOCKER_HOST=host, BERTH_HOST=host, DOCKER_BUILDKIT="0", DOCKER_CLI_HINTS="false")
args = [cli, "build", "-q", "-t", f"berth-bench-build:{mode}", ctx]
if mode == "cold":
    args.insert(2, "--no-cache")
subprocess.run([cli, "build", "-q", "-t", "berth-bench-build:warm", ctx], env=env, check=True, stdout=subprocess.DEVNULL)
out = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    out.append(time.perf_counter() - t)
print(f"{statistics.median(out):.3f} {min(out):.3f}")
PY
}

BC=$(build_times "$SOCK" docker cold)
BK=$(build_times "$SOCK" docker cached)
OC=$(build_times "$SOCK" "$BERTH_BIN" cold)
OK=$(build_times "$SOCK" "$BERTH_BIN" cached)
read -r BC_MED BC_MIN <<<"$BC"
read -r BK_MED BK_MIN <<<"$BK"
read -r OC_MED OC_MIN <<<"$OC"
read -r OK_MED OK_MIN <<<"$OK"

PC="- -"; PK="- -"
for host in ${PEER_HOST:-unix:///run/peer.sock unix:///var/run/docker.sock}; do
  if DOCKER_HOST=$host docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    PEER=$host
    DOCKER_HOST=$PEER docker import "$DIR/busybox.tar" busybox >/dev/null
    PC=$(build_times "$PEER" docker cold)
    PK=$(build_times "$PEER" docker cached)
    break
  fi
done
read -r PC_MED PC_MIN <<<"$PC"
read -r PK_MED PK_MIN <<<"$PK"

ms() { [ "$1" = - ] && echo - || awk "BEGIN{printf \"%.0f\", $1*1000}"; }
printf '\nbuild of busybox + RUN + %s MB COPY + ENV + WORKDIR + CMD, %s runs (ms, median / best)\n' "$SIZE_MB" "$RUNS"
printf '%-34s %16s %16s %16s\n' "" "berth (docker)" "berth (berth)" "docker-engine"
printf '%-34s %16s %16s %16s\n' "cold build (--no-cache)" "$(ms "$BC_MED") / $(ms "$BC_MIN")" "$(ms "$OC_MED") / $(ms "$OC_MIN")" "$(ms "$PC_MED") / $(ms "$PC_MIN")"
printf '%-34s %16s %16s %16s\n' "fully cached rebuild" "$(ms "$BK_MED") / $(ms "$BK_MIN")" "$(ms "$OK_MED") / $(ms "$OK_MIN")" "$(ms "$PK_MED") / $(ms "$PK_MIN")"
printf 'load average while measuring: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'targets: cached < 100 ms (Docker: 256 ms), cold <= half of Docker'"'"'s (1480 ms)\n'
