#!/usr/bin/env bash
# Published-port throughput: wrk against busybox httpd in a berth container, reached
#   direct      at the container's address on the daemon's own bridge,
#   published   at the bridge's gateway address and the published port (kernel DNAT path),
#   proxy       at 127.0.0.1 and the published port (berth's userland proxy),
# printed as a table with the ratios to direct: one wrk run of DURATION seconds (default 10)
# per path, PAUSE seconds apart, each path to its own httpd of the same container.
# Targets are only loopback and the bench daemon's own bridge. Needs root, the berth binary
# (BERTH_BIN, else target/release/berth, else target/debug/berth) and Debian's wrk, curl,
# nftables, iproute2, util-linux and busybox-static. Everything it makes is removed on exit,
# and a run killed with SIGKILL is swept by the next one.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
# busybox httpd listens with a backlog of 9: more connections than that measure its SYN drops
# (1 s retransmits) rather than the network path.
CONNS=${CONNS:-8}
# busybox httpd closes first, so each run leaves thousands of TIME_WAIT sockets (and conntrack
# entries) in the container; a later path reusing the same 4-tuples would see SYN collisions
# and 1 s retransmits. Each path therefore gets its own httpd on its own container port
# (same container, same binary, same file): direct -> 8080, DNAT -> 8081, proxy -> 8082, so
# no path inherits another's leftovers and no pause longer than TIME_WAIT is needed.
PAUSE=${PAUSE:-3}
BERTH=${BERTH_BIN:-}
for b in target/release/berth target/debug/berth; do
  [ -n "$BERTH" ] || { [ -x "$b" ] && BERTH=$b; }
done
[ -n "$BERTH" ] || { echo "no berth binary: build one (cargo build --release -p berth) or set BERTH_BIN" >&2; exit 1; }
for tool in wrk curl nft ip setpriv; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk curl nftables iproute2 util-linux" >&2; exit 1; }
done

# Removes everything of the bench run with id $1: its shims and their containers (shims
# outlive a killed daemon), interfaces and nftables tables tagged with its bridge, mounts,
# cgroups and dir. Used on exit and, at start, for runs that were killed (SIGKILL skips the
# EXIT trap) and whose daemon is gone.
sweep() (
  set +e
  id=$1 d=/tmp/bbn-$1 br=bnb$1
  for pid in $(pgrep -f "shim --id .* --dir $d/"); do kill -KILL "$pid" 2>/dev/null; done
  for f in /sys/fs/cgroup/*/berth-bench-"$id"/*/cgroup.procs; do
    [ -e "$f" ] && xargs -r kill -KILL <"$f" 2>/dev/null
  done
  for f in /sys/class/net/*/ifalias; do
    case "$(cat "$f" 2>/dev/null)" in "berth:$br" | "berth:$br "*) ip link delete "$(basename "$(dirname "$f")")" 2>/dev/null ;; esac
  done
  nft delete table ip "berth-$br" 2>/dev/null
  nft delete table bridge "berth-$br" 2>/dev/null
  grep " $d/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for _ in 1 2 3 4 5; do
    rmdir /sys/fs/cgroup/*/berth-bench-"$id"/* /sys/fs/cgroup/*/berth-bench-"$id" 2>/dev/null
    compgen -G "/sys/fs/cgroup/*/berth-bench-$id" >/dev/null || break
    sleep 0.2
  done
  rm -rf "$d"
)
# Leftovers of earlier runs killed before their trap ran: only our own dirs, and only when no
# daemon of that run is alive (the daemon dies with its script, see below).
for old in /tmp/bbn-*; do
  [ -d "$old" ] || continue
  pgrep -f "berth daemon .*--data-root $old/" >/dev/null && continue
  echo "removing leftovers of a killed run: $old" >&2
  sweep "${old#/tmp/bbn-}"
done

id=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
dir=/tmp/bbn-$id
bridge=bnb$id
sock=$dir/s.sock
mkdir -p "$dir"
daemon_pid=
cleanup() {
  set +e
  if [ -S "$sock" ]; then
    for c in $("$BERTH" -H "unix://$sock" ps -aq 2>/dev/null); do "$BERTH" -H "unix://$sock" rm -f "$c" >/dev/null 2>&1; done
  fi
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  sweep "$id"
}
trap cleanup EXIT

# The daemon gets SIGKILL when this script dies, whatever kills it, so a killed run leaves no
# live daemon behind and the next run can sweep its state.
setpriv --pdeathsig KILL "$BERTH" daemon --host "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" \
  --cgroup-parent "/berth-bench-$id" --bridge "$bridge" >"$dir/daemon.log" 2>&1 &
daemon_pid=$!
b() { "$BERTH" -H "unix://$sock" "$@"; }
for _ in $(seq 100); do b version >/dev/null 2>&1 && break; sleep 0.1; done
scripts/busybox-rootfs.sh "$dir/busybox.tar"
b import "$dir/busybox.tar" busybox >/dev/null
b run -d --name web -p 8081 -p 8082 busybox sh -c 'head -c 512 /dev/zero | tr "\0" x > /tmp/index.html
  httpd -f -p 8081 -h /tmp & httpd -f -p 8082 -h /tmp & exec httpd -f -p 8080 -h /tmp' >/dev/null
cip=$(b inspect -f '{{.NetworkSettings.IPAddress}}' web)
gw=$(b inspect -f '{{.NetworkSettings.Gateway}}' web)
nat_port=$(b port web 8081 | head -1 | sed 's/.*://')
proxy_port=$(b port web 8082 | head -1 | sed 's/.*://')
for url in "http://$cip:8080/" "http://$gw:$nat_port/" "http://127.0.0.1:$proxy_port/"; do
  for _ in $(seq 100); do curl -sf "$url" >/dev/null && break; sleep 0.1; done
  curl -sf "$url" >/dev/null || { echo "$url does not answer" >&2; exit 1; }
done

# run URL -> "rps p99_ms"
run() {
  local out rps p99
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$1")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' <<<"$out")
  echo "$rps ${p99:-0}"
}
# ROUNDS > 1 (default 1: one run per path) repeats the three paths in a rotating order and
# reports each path's median req/s and p99: on a shared, loaded machine one run swings by
# 20% either way, and always measuring the same path first biases the ratios.
ROUNDS=${ROUNDS:-1}
urls=("http://$cip:8080/" "http://$gw:$nat_port/" "http://127.0.0.1:$proxy_port/")
declare -a rps_0 rps_1 rps_2 p99_0 p99_1 p99_2
for ((r = 0; r < ROUNDS; r++)); do
  for k in 0 1 2; do
    i=$(( (k + r + 1) % 3 )) # round 0 measures DNAT, proxy, direct
    read -r rps p99 < <(run "${urls[$i]}")
    eval "rps_$i+=($rps); p99_$i+=($p99)"
    sleep "$PAUSE"
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
d_rps=$(median "${rps_0[@]}"); d_p99=$(median "${p99_0[@]}")
p_rps=$(median "${rps_1[@]}"); p_p99=$(median "${p99_1[@]}")
x_rps=$(median "${rps_2[@]}"); x_p99=$(median "${p99_2[@]}")
echo
echo "busybox httpd, wrk -t2 -c$CONNS -d${DURATION}s, $ROUNDS round(s) (medians), berth $("$BERTH" --version | awk '{print $3}' | tr -d ,) ($BERTH)"
printf '%-34s %12s %10s %10s %10s\n' path req/s p99_ms ratio p99/direct
line() { awk -v n="$1" -v r="$2" -v p="$3" -v dr="$d_rps" -v dp="$d_p99" 'BEGIN {printf "%-34s %12.0f %10.2f %10.2f %10.2f\n", n, r, p, r/dr, (dp > 0 ? p/dp : 0)}'; }
line "direct ($cip:8080)" "$d_rps" "$d_p99"
line "published, DNAT ($gw:$nat_port)" "$p_rps" "$p_p99"
line "published, proxy (127.0.0.1:$proxy_port)" "$x_rps" "$x_p99"
