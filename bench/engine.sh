#!/usr/bin/env bash
# Engine benchmark: one command, one table. Measures berth (release build) and, when a Docker
# Engine answers on $PEER_HOST (default unix:///run/peer.sock), the same figures for it.
#   median `run --rm IMG true` (berth CLI and docker CLI), 50 detached containers started and
#   removed (containers/s), daemon idle RSS, per-container shim RSS and PSS.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh >/dev/null
if [ -n "${BERTH_BIN:-}" ]; then
  BERTH=$(readlink -f "$BERTH_BIN")
else
  cargo build --release -p berth >/dev/null 2>&1 || cargo build --release -p berth
  BERTH=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
fi
DIR=$(mktemp -d /tmp/berth-bench.XXXXXX)
ID=$(basename "$DIR" | tail -c 7 | tr -dc 'a-z0-9')
SOCK=unix://$DIR/b.sock
RUNS=${RUNS:-21}
N=${N:-50}
PEER_HOST=${PEER_HOST:-unix:///run/peer.sock}
scripts/busybox-rootfs.sh "$DIR/busybox.tar"
# The exec root holds runtime state only (sockets, OCI bundles, libcontainer state) and lives in
# /run, a tmpfs on any ordinary host. This machine's /run is on the root ext4 (no journal, where
# every new inode pays a scan past recently deleted ones), so give the bench the tmpfs a host
# would have. The data root stays on disk.
mkdir -p "$DIR/exec"
mount -t tmpfs -o mode=0711 tmpfs "$DIR/exec"

"$BERTH" daemon --host "$SOCK" --data-root "$DIR/data" --exec-root "$DIR/exec" --cgroup-parent /berth-bench --bridge "be$ID" \
  --log-level warn >"$DIR/daemon.log" 2>&1 &
DAEMON=$!
cleanup() {
  DOCKER_HOST=$SOCK docker rm -f $(DOCKER_HOST=$SOCK docker ps -aq) >/dev/null 2>&1 || true
  kill "$DAEMON" 2>/dev/null || true  # already dead when it failed to start
  wait "$DAEMON" 2>/dev/null || true
  for m in $(grep -o "$DIR[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$DIR"
  # The daemon keeps its bridge and firewall table for a next start: this one has none.
  ip link del "be$ID" 2>/dev/null || true
  nft delete table ip "berth-be$ID" 2>/dev/null || true
  # The daemon's --cgroup-parent, left empty once its containers are gone.
  for c in /sys/fs/cgroup/*/berth-bench /sys/fs/cgroup/berth-bench; do
    [ -d "$c" ] && rmdir "$c" 2>/dev/null || true
  done
}
trap cleanup EXIT
for _ in $(seq 200); do "$BERTH" -H "$SOCK" version >/dev/null 2>&1 && break; sleep 0.05; done
"$BERTH" -H "$SOCK" import "$DIR/busybox.tar" busybox >/dev/null

# measure NAME HOST CLI...: prints "median_ms rate rss_daemon_kib shim_rss_kib shim_pss_kib"
measure() {
  local host=$1 daemon_pid=$2 shim_pattern=$3; shift 3
  python3 - "$host" "$daemon_pid" "$shim_pattern" "$RUNS" "$N" "$@" <<'PY'
import os, statistics, subprocess, sys, time, glob
host, daemon_pid, shim_pat, runs, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
clis = sys.argv[6:]
env = dict(os.environ, DOCKER_HOST=host, BERTH_HOST=host, DOCKER_CLI_HINTS="false")
def run(cli, *args):
    subprocess.run([cli, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
def median_run(cli):
    run(cli, "run", "--rm", "busybox", "true")  # warm up
    times = []
    for _ in range(runs):
        t = time.perf_counter(); run(cli, "run", "--rm", "busybox", "true"); times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000
def kib(pid, field, path="status"):
    try:
        for line in open(f"/proc/{pid}/{path}"):
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0
out = [f"{median_run(c):.1f}" for c in clis]
rss_daemon = kib(daemon_pid, "VmRSS:") if daemon_pid != "0" else 0
t = time.perf_counter()
ids = []
for i in range(n):
    ids.append(subprocess.run([clis[0], "run", "-d", "busybox", "sleep", "1000"], env=env, capture_output=True, text=True, check=True).stdout.strip())
started = time.perf_counter()
shims = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if shim_pat and shim_pat in cmd:
            shims.append(pid)
rss = [kib(p, "VmRSS:") for p in shims]
pss = [kib(p, "Pss:", "smaps_rollup") for p in shims]
subprocess.run([clis[0], "rm", "-f", *ids], env=env, stdout=subprocess.DEVNULL, check=True)
elapsed = time.perf_counter() - t
rate = n / elapsed
shim_rss = statistics.mean(rss) if rss else 0
shim_pss = statistics.mean(pss) if pss else 0
print(" ".join(out), f"{rate:.1f}", rss_daemon, f"{shim_rss:.0f}", f"{shim_pss:.0f}", f"{started - t:.2f}")
PY
}

sleep 0.5
read -r B_BERTH B_DOCKER B_RATE B_RSS B_SHIM_RSS B_SHIM_PSS B_START <<<"$(measure "$SOCK" "$DAEMON" "shim --id" "$BERTH" docker)"
# Idle: once the RSS has stopped moving, at least one heap trim (every 2 s) later, at most 10 s.
B_RSS_IDLE=$(awk '/VmRSS/{print $2}' /proc/$DAEMON/status)
for i in $(seq 20); do
  sleep 0.5
  now=$(awk '/VmRSS/{print $2}' /proc/$DAEMON/status)
  if [ "$now" = "$B_RSS_IDLE" ] && [ "$i" -ge 6 ]; then break; fi
  B_RSS_IDLE=$now
done

P="-"; P_RATE="-"; P_RSS="-"; P_SHIM_RSS="-"; P_SHIM_PSS="-"
if DOCKER_HOST=$PEER_HOST docker version >/dev/null 2>&1; then
  DOCKER_HOST=$PEER_HOST docker import "$DIR/busybox.tar" busybox >/dev/null
  DPID=$(pgrep -x dockerd | head -1 || echo 0)
  read -r P P_RATE P_RSS P_SHIM_RSS P_SHIM_PSS _ <<<"$(measure "$PEER_HOST" "${DPID:-0}" "containerd-shim" docker)"
fi

printf '\n%-44s %14s %14s %10s\n' "metric" "berth" "docker-engine" "target"
printf '%-44s %14s %14s %10s\n' "run --rm busybox true, median ms (berth CLI)" "$B_BERTH" "-" "< 50"
printf '%-44s %14s %14s %10s\n' "run --rm busybox true, median ms (docker CLI)" "$B_DOCKER" "$P" "< 50"
printf '%-44s %14s %14s %10s\n' "$N detached started+removed, containers/s" "$B_RATE" "$P_RATE" ">= 30"
printf '%-44s %14s %14s %10s\n' "daemon idle RSS, MiB" "$(awk "BEGIN{printf \"%.1f\", $B_RSS_IDLE/1024}")" "$( [ "$P_RSS" = - ] && echo - || awk "BEGIN{printf \"%.1f\", $P_RSS/1024}")" "< 15"
printf '%-44s %14s %14s %10s\n' "shim RSS per container, MiB" "$(awk "BEGIN{printf \"%.2f\", $B_SHIM_RSS/1024}")" "$( [ "$P_SHIM_RSS" = - ] && echo - || awk "BEGIN{printf \"%.2f\", $P_SHIM_RSS/1024}")" ""
printf '%-44s %14s %14s %10s\n' "shim PSS per container, MiB" "$(awk "BEGIN{printf \"%.2f\", $B_SHIM_PSS/1024}")" "$( [ "$P_SHIM_PSS" = - ] && echo - || awk "BEGIN{printf \"%.2f\", $P_SHIM_PSS/1024}")" "< 1"
