#!/usr/bin/env bash
# Fails if e2e tests or benchmarks left state behind.
# - e2e daemons (dirs /tmp/be-*, bridges be<hex>, cgroups berth-e2e-*): anything left is
#   reported (run this after the tests).
# - benches (dirs /tmp/bbn-* network, /tmp/bbuild.* build, /tmp/bst.* stats,
#   /tmp/berth-bench* engine and registry; bridges bnb*, bb*, bs*; cgroups berth-bench*):
#   whatever no live `berth daemon` uses: dirs, overlay mounts, shims, cgroups, interfaces and
#   nftables tables. A bench killed with SIGKILL cannot run its cleanup trap; bench/network.sh
#   sweeps its own leftovers at its next start, and this check reports them meanwhile.
set -uo pipefail
status=0
report() { # what, found
  if [ -n "$2" ]; then echo "$1:"; echo "$2"; status=1; fi
}
# Every running daemon, whatever its binary is called (benches copy it), one space-ended line
# each so a flag value at the end still matches "--flag value ".
live=$(pgrep -a -f '^[^ ]*berth[^ ]* daemon ' | sed 's/$/ /' || true)
in_use() { [ -n "$live" ] && grep -qF -- "$1" <<<"$live"; }
# Keeps the lines of stdin whose first field (or the part matched by sed expression $1) no
# live daemon mentions.
unused() {
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    key=$(sed -E "$1" <<<"$line")
    in_use "$key" || echo "$line"
  done
}
bench_dirs='/tmp/(bbn-|bbuild\.|bst\.|berth-bench)[^/ ]*'

report "leaked e2e daemons" "$(pgrep -af '^[^ ]*berth daemon .*/tmp/be-' || true)"
report "leaked e2e shims" "$(pgrep -af 'shim --id .* --dir /tmp/be-' || true)"
report "leaked e2e mounts" "$(grep ' /tmp/be-' /proc/self/mountinfo || true)"
report "leaked e2e cgroups" "$(ls -d /sys/fs/cgroup/*/berth-e2e-* /sys/fs/cgroup/berth-e2e-* 2>/dev/null || true)"
report "leaked interfaces of e2e daemons" "$(grep -lE '^berth:be[0-9a-f]{8}( |$)' /sys/class/net/*/ifalias 2>/dev/null || true)"
report "leaked nftables tables of e2e daemons" "$(nft list tables 2>/dev/null | grep -E ' berth-be[0-9a-f]{8}$' || true)"
report "leaked e2e dirs" "$(ls -d /tmp/be-* 2>/dev/null || true)"

report "bench dirs without a daemon" "$(ls -d /tmp/bbn-* /tmp/bbuild.* /tmp/bst.* /tmp/berth-bench* 2>/dev/null | unused 's|$|/|')"
report "bench mounts without a daemon" "$(grep -E " $bench_dirs" /proc/self/mountinfo | unused "s#^([^ ]+ ){4}($bench_dirs).*#\\2/#")"
report "bench shims without a daemon" "$(pgrep -af "shim --id .* --dir $bench_dirs" | unused "s#.* --dir ($bench_dirs).*#\\1/#")"
report "bench cgroups without a daemon" "$(ls -d /sys/fs/cgroup/*/berth-bench* /sys/fs/cgroup/berth-bench* 2>/dev/null | unused 's|.*/(berth-bench[^/]*)$|--cgroup-parent /\1 |')"
report "bench interfaces without a daemon" "$(for f in /sys/class/net/*/ifalias; do
  a=$(cat "$f" 2>/dev/null) || continue
  [[ $a =~ ^berth:(bnb|bb|bs)[a-z0-9]+ ]] && echo "$(basename "$(dirname "$f")") $a"
done | unused 's|^[^ ]+ berth:([^ ]+).*|--bridge \1 |')"
report "bench nftables tables without a daemon" "$(nft list tables 2>/dev/null | grep -E ' berth-(bnb|bb|bs)[a-z0-9]+$' | unused 's|.* berth-||; s|^|--bridge |; s|$| |')"
[ $status = 0 ] && echo "leak check: clean"
exit $status
