#!/usr/bin/env bash
# Published-port throughput: wrk against one busybox httpd (one process, one port, one
# container) reached three ways:
#   direct      at the container's address on the daemon's own bridge,
#   published   at the bridge's gateway address and the published port (kernel DNAT path),
#   proxy       at 127.0.0.1 and the same published port (berth's userland proxy),
# printed as a table with the ratios to direct. Every path gets a warm-up run of WARMUP
# seconds, then ROUNDS measured runs of DURATION seconds in rotating order; each round is
# printed (stderr); the table shows medians (ratios: medians of per-round ratios to direct),
# the error count and the load.
# Targets are only loopback and the bench daemon's own bridge. Needs root, the berth binary
# (BERTH_BIN, else target/release/berth, else target/debug/berth) and Debian's wrk, curl,
# nftables, iproute2, util-linux and busybox-static. Everything it makes is removed on exit,
# and a run killed with SIGKILL is swept by the next one.
#
# Fairness: busybox httpd closes first, so each request leaves a TIME_WAIT socket in the
# container and a TIME_WAIT conntrack entry (120 s) on the host. All three paths share the
# server's side of the 4-tuple (container:8080, gateway:ephemeral), but a client derives its
# initial sequence number and timestamp offset from the address it dialled, so a run reusing
# an ephemeral port another path left in TIME_WAIT gets its SYN refused (1 s retransmit), and
# a DNAT flow whose reply tuple equals a leftover direct flow's is dropped by conntrack.
# Before every run the bench therefore closes the server's TIME_WAIT sockets (ss -K in the
# container's namespace) and moves its flows to a conntrack zone of their own (through its own
# `inet` nftables table), so no run meets another's leftovers; a zone costs nothing per packet.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-9}
WARMUP=${WARMUP:-2}
# busybox httpd listens with a backlog of 9: more connections than that measure its SYN drops
# (1 s retransmits) rather than the network path.
CONNS=${CONNS:-8}
BERTH=${BERTH_BIN:-}
for b in target/release/berth target/debug/berth; do
  [ -n "$BERTH" ] || { [ -x "$b" ] && BERTH=$b; }
done
[ -n "$BERTH" ] || { echo "no berth binary: build one (cargo build --release -p berth) or set BERTH_BIN" >&2; exit 1; }
for tool in wrk curl nft ip ss nsenter setpriv; do
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
  nft delete table inet "berth-$br" 2>/dev/null
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
b run -d --name web -p 8080 busybox sh -c 'head -c 512 /dev/zero | tr "\0" x > /tmp/index.html
  exec httpd -f -p 8080 -h /tmp' >/dev/null
cip=$(b inspect -f '{{.NetworkSettings.IPAddress}}' web)
gw=$(b inspect -f '{{.NetworkSettings.Gateway}}' web)
pid=$(b inspect -f '{{.State.Pid}}' web)
port=$(b port web 8080 | head -1 | sed 's/.*://')
# The direct path must reach this container through this daemon's bridge, not through another
# bridge that happens to route the same subnet.
route=$(ip -o route get "$cip")
[[ "$route" == *" dev $bridge "* ]] || { echo "$cip is not routed through $bridge: $route" >&2; exit 1; }
# Puts the flows to the server (direct, DNAT and the proxy's side) and its answers into conntrack zone
# $1, through the bench's own table (same name as the daemon's, family inet, swept with it).
zone() {
  nft -f - <<EOF
table inet berth-$bridge {}
delete table inet berth-$bridge
table inet berth-$bridge {
  chain output {
    type filter hook output priority raw; policy accept;
    ip daddr { $cip, $gw } tcp dport { 8080, $port } ct zone set $1
  }
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    ip saddr $cip tcp sport 8080 ct zone set $1
  }
}
EOF
}
zone 1
urls=("http://$cip:8080/" "http://$gw:$port/" "http://127.0.0.1:$port/")
for url in "${urls[@]}"; do
  for _ in $(seq 100); do curl -sf "$url" >/dev/null && break; sleep 0.1; done
  curl -sf "$url" >/dev/null || { echo "$url does not answer" >&2; exit 1; }
done

# Leaves no state of an earlier run that a new connection could collide with: the server's
# TIME_WAIT sockets closed, and a conntrack zone no earlier run used.
runs=1
settle() {
  local left=
  runs=$((runs + 1))
  zone "$runs"
  nsenter --net="/proc/$pid/ns/net" ss -K -t state time-wait >/dev/null
  for _ in $(seq 100); do
    left=$(nsenter --net="/proc/$pid/ns/net" ss -Htn state time-wait | wc -l)
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  echo "$left TIME_WAIT sockets of the last run are left in the container" >&2
  exit 1
}
# The host's count of retransmitted SYNs. wrk's latencies leave out connecting, so a SYN
# dropped by a tuple collision (retransmitted after 1 s) only shows as fewer requests per
# second: this count makes it visible (host-wide, so other traffic adds to it).
syn_retrans() { awk '/^TcpExt:/ {if (!h) {for (i = 1; i <= NF; i++) if ($i == "TCPSynRetrans") c = i; h = 1} else print $c + 0}' /proc/net/netstat; }
# run URL SECONDS -> "rps p99_ms errors max syn_retransmits" (errors: socket errors and
# non-2xx answers; max: the slowest request as wrk prints it); call settle first, in this shell.
run() {
  local out rps p99 errs max syn
  syn=$(syn_retrans)
  out=$(wrk -t2 -c"$CONNS" -d"${2}s" --latency "$1")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' <<<"$out")
  errs=$(awk '/Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} /Non-2xx/ {e += $NF} END {print e + 0}' <<<"$out")
  max=$(awk '$1 == "Latency" {print $4}' <<<"$out")
  echo "$rps ${p99:-0} $errs ${max:-?} $(($(syn_retrans) - syn))"
}
names=(direct DNAT proxy)
labels=("direct ($cip:8080)" "published, DNAT ($gw:$port)" "published, proxy (127.0.0.1:$port)")
for i in 0 1 2; do settle; run "${urls[$i]}" "$WARMUP" >/dev/null; done
declare -a rps_0 rps_1 rps_2 p99_0 p99_1 p99_2
errors=0
for ((r = 0; r < ROUNDS; r++)); do
  for k in 0 1 2; do
    i=$(((k + r) % 3)) # rotating order: no path is always measured first
    settle
    read -r rps p99 errs max syn < <(run "${urls[$i]}" "$DURATION")
    printf 'round %d %-6s %8.0f req/s  p99 %7.2f ms  max %8s  errors %s  SYN retransmits %s\n' "$r" "${names[$i]}" "$rps" "$p99" "$max" "$errs" "$syn" >&2
    eval "rps_$i+=($rps); p99_$i+=($p99)"
    errors=$((errors + errs))
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
# ratios A B -> A[r]/B[r] for each round r: a path against direct measured minutes apart
# swings with the load of a shared machine, within one round much less, so the table's ratios
# are medians of per-round ratios (and its req/s and p99 the plain medians).
ratios() {
  local -n a=$1 b=$2
  for ((r = 0; r < ROUNDS; r++)); do awk -v x="${a[$r]}" -v y="${b[$r]}" 'BEGIN {print (y > 0 ? x / y : 0)}'; done
}
echo
echo "busybox httpd, wrk -t2 -c$CONNS -d${DURATION}s, warm-up ${WARMUP}s, $ROUNDS round(s), $errors errors, load $(cut -d' ' -f1-3 /proc/loadavg), berth $("$BERTH" --version | awk '{print $3}' | tr -d ,) ($BERTH)"
printf '%-34s %12s %10s %10s %10s\n' path req/s p99_ms ratio p99/direct
line() {
  local -n r=rps_$2 p=p99_$2
  awk -v n="$1" -v r="$(median "${r[@]}")" -v p="$(median "${p[@]}")" -v q="$(median $(ratios "rps_$2" rps_0))" -v l="$(median $(ratios "p99_$2" p99_0))" \
    'BEGIN {printf "%-34s %12.0f %10.2f %10.2f %10.2f\n", n, r, p, q, l}'
}
for i in 0 1 2; do line "${labels[$i]}" "$i"; done
