#!/usr/bin/env bash
# Push and pull of a 200 MB single-layer image (random bytes, so compression cannot help)
# through berth's daemon, against `berth registry serve` and Debian's `docker-registry`
# (CNCF distribution 2.8) on loopback; Docker Engine too when `dockerd` is installed. Also
# `berth save` to a file and `berth load` back of the same image (issue target: 320 MB/s,
# twice Docker's 160). Prints MB/s (10^6 bytes per second of wall time), best and median of
# RUNS runs.
#
#   sudo bench/registry.sh            # RUNS=3 SIZE_MB=200 by default
#   KINDS=berth bench/registry.sh     # only berth's registry (default: "berth distribution")
#
# Needs root (the daemon), the release binary (built here unless BERTH_BIN is set), and
# docker-registry (apt-get install docker-registry; its system service is never used).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-200}
KINDS=${KINDS:-berth distribution}
if [ -z "${BERTH_BIN:-}" ]; then
  cargo build --release -q -p berth
  BERTH_BIN="${CARGO_TARGET_DIR:-target}/release/berth"
fi
BERTH_BIN=$(readlink -f "$BERTH_BIN")

WORK=$(mktemp -d /tmp/berth-bench-XXXXXX)
ID=$(basename "$WORK" | tail -c 7 | tr -dc 'a-z0-9')
BRIDGE="bb${ID}"
SOCK="$WORK/berth.sock"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  nft delete table ip "berth-$BRIDGE" 2>/dev/null || true
  for c in /sys/fs/cgroup/*/"berth-bench-$ID"; do [ -d "$c" ] && rmdir "$c" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing listens on $1" >&2; return 1; }
now() { date +%s.%N; }
mbps() { python3 -c "import sys; print(f'{$SIZE_MB*1048576/1e6/(float(sys.argv[2])-float(sys.argv[1])):.0f}')" "$1" "$2"; }
berth() { "$BERTH_BIN" -H "unix://$SOCK" "$@"; }

# The daemon.
"$BERTH_BIN" daemon --host "unix://$SOCK" --data-root "$WORK/data" --exec-root "$WORK/exec" \
  --cgroup-parent "/berth-bench-$ID" --bridge "$BRIDGE" --log-level warn >"$WORK/daemon.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do berth version >/dev/null 2>&1 && break; sleep 0.05; done

# The image: one layer holding SIZE_MB of random bytes.
mkdir -p "$WORK/rootfs"
head -c "$((SIZE_MB * 1048576))" /dev/urandom >"$WORK/rootfs/blob"
tar -C "$WORK/rootfs" -cf "$WORK/layer.tar" blob
rm -rf "$WORK/rootfs"
berth import "$WORK/layer.tar" bench/seed:v1 >/dev/null
rm -f "$WORK/layer.tar"
CURRENT=bench/seed:v1

start_registry() { # kind -> sets REG_PID and REG_PORT
  local kind=$1 port root
  port=$(free_port)
  root=$(mktemp -d "$WORK/reg-XXXX")
  if [ "$kind" = berth ]; then
    "$BERTH_BIN" registry serve --addr "127.0.0.1:$port" --root "$root/data" >"$root/log" 2>&1 &
  else
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' "$root" "$port" >"$root/config.yml"
    /usr/bin/docker-registry serve "$root/config.yml" >"$root/log" 2>&1 &
  fi
  REG_PID=$!
  REG_PORT=$port
}

# One run against a fresh registry: push (timed), remove every local copy, pull (timed).
run_once() { # kind -> sets PUSH_MBPS and PULL_MBPS (no subshell: CURRENT must persist)
  local kind=$1 pid port ref t0 t1 t2 t3
  start_registry "$kind"
  pid=$REG_PID port=$REG_PORT
  PIDS+=("$pid")
  wait_port "$port"
  ref="127.0.0.1:$port/bench/big:v1"
  berth tag "$CURRENT" "$ref"
  berth rmi "$CURRENT" >/dev/null
  t0=$(now); berth push "$ref" >/dev/null; t1=$(now)
  berth rmi "$ref" >/dev/null
  t2=$(now); berth pull "$ref" >/dev/null; t3=$(now)
  CURRENT=$ref
  kill "$pid"; wait "$pid" 2>/dev/null || true
  PUSH_MBPS=$(mbps "$t0" "$t1")
  PULL_MBPS=$(mbps "$t2" "$t3")
}

# save and load of the seed image, RUNS times (the image is removed between save and load).
SAVE="" LOAD=""
for _ in $(seq "$RUNS"); do
  t0=$(now); berth save -o "$WORK/image.tar" "$CURRENT"; t1=$(now)
  berth rmi "$CURRENT" >/dev/null
  t2=$(now); berth load -q -i "$WORK/image.tar" >/dev/null; t3=$(now)
  rm -f "$WORK/image.tar"
  SAVE+="$(mbps "$t0" "$t1") " LOAD+="$(mbps "$t2" "$t3") "
done

# The same through a Docker Engine when one answers on PEER_HOST (started by hand, see README):
# the seed image is handed over with `berth save | docker load`, pushed to and pulled from a
# fresh `berth registry serve` each run, then saved and loaded by Docker itself.
PEER_HOST=${PEER_HOST:-unix:///run/peer.sock}
dk() { DOCKER_HOST=$PEER_HOST docker "$@"; }
DK_PUSH="" DK_PULL="" DK_SAVE="" DK_LOAD=""
if dk version >/dev/null 2>&1; then
  berth save -o "$WORK/seed.tar" "$CURRENT"
  dk load -q -i "$WORK/seed.tar" >/dev/null
  rm -f "$WORK/seed.tar"
  DK_CURRENT=$CURRENT
  for _ in $(seq "$RUNS"); do
    start_registry berth
    PIDS+=("$REG_PID")
    wait_port "$REG_PORT"
    ref="127.0.0.1:$REG_PORT/bench/docker:v1"
    dk tag "$DK_CURRENT" "$ref"
    dk rmi "$DK_CURRENT" >/dev/null
    t0=$(now); dk push "$ref" >/dev/null; t1=$(now)
    dk rmi "$ref" >/dev/null
    t2=$(now); dk pull -q "$ref" >/dev/null; t3=$(now)
    DK_CURRENT=$ref
    kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true
    DK_PUSH+="$(mbps "$t0" "$t1") " DK_PULL+="$(mbps "$t2" "$t3") "
    t0=$(now); dk save -o "$WORK/image.tar" "$DK_CURRENT"; t1=$(now)
    dk rmi "$DK_CURRENT" >/dev/null
    t2=$(now); dk load -q -i "$WORK/image.tar" >/dev/null; t3=$(now)
    rm -f "$WORK/image.tar"
    DK_SAVE+="$(mbps "$t0" "$t1") " DK_LOAD+="$(mbps "$t2" "$t3") "
  done
  dk rmi "$DK_CURRENT" >/dev/null 2>&1 || true
fi

stats() { python3 -c 'import sys,statistics; v=sorted(map(float,sys.argv[1:])); print(f"{max(v):>6.0f} {statistics.median(v):>8.0f}")' "$@"; }

declare -A PUSH PULL
for kind in $KINDS; do
  if [ "$kind" = distribution ] && [ ! -x /usr/bin/docker-registry ]; then continue; fi
  for _ in $(seq "$RUNS"); do
    run_once "$kind"
    PUSH[$kind]+="$PUSH_MBPS "
    PULL[$kind]+="$PULL_MBPS "
  done
done

label() { case $1 in berth) echo "berth registry serve";; distribution) echo "docker-registry 2.8 (CNCF)";; esac; }
printf '\n%s MB single-layer image (random bytes), berth daemon, loopback, %s runs\n' "$SIZE_MB" "$RUNS"
printf '%-6s %-28s %6s %8s\n' "op" "registry" "best" "median"
for kind in berth distribution; do
  [ -n "${PUSH[$kind]:-}" ] || { printf '%-6s %-28s %s\n' "-" "$(label "$kind")" "not run (not in KINDS, or not installed)"; continue; }
  # shellcheck disable=SC2086
  printf '%-6s %-28s %s MB/s\n' push "$(label "$kind")" "$(stats ${PUSH[$kind]})"
  # shellcheck disable=SC2086
  printf '%-6s %-28s %s MB/s\n' pull "$(label "$kind")" "$(stats ${PULL[$kind]})"
done
# shellcheck disable=SC2086
printf '%-6s %-28s %s MB/s\n' save "berth save -o FILE" "$(stats $SAVE)"
# shellcheck disable=SC2086
printf '%-6s %-28s %s MB/s\n' load "berth load -i FILE" "$(stats $LOAD)"
if [ -n "$DK_PUSH" ]; then
  # shellcheck disable=SC2086
  printf '%-6s %-28s %s MB/s\n' push "Docker Engine -> berth reg." "$(stats $DK_PUSH)"
  # shellcheck disable=SC2086
  printf '%-6s %-28s %s MB/s\n' pull "Docker Engine <- berth reg." "$(stats $DK_PULL)"
  # shellcheck disable=SC2086
  printf '%-6s %-28s %s MB/s\n' save "docker save -o FILE" "$(stats $DK_SAVE)"
  # shellcheck disable=SC2086
  printf '%-6s %-28s %s MB/s\n' load "docker load -i FILE" "$(stats $DK_LOAD)"
else
  printf '%-6s %-28s %s\n' "-" "Docker Engine" "none answers on $PEER_HOST (start dockerd by hand to compare)"
fi
