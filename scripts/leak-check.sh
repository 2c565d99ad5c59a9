#!/usr/bin/env bash
# Fails if a test left shims, mounts, cgroups, interfaces, nftables tables or state of its
# daemon behind.
set -uo pipefail
status=0
shims=$(pgrep -af 'shim --id .* --dir /tmp/be-' || true)
if [ -n "$shims" ]; then echo "leaked shims:"; echo "$shims"; status=1; fi
mounts=$(grep ' /tmp/be-' /proc/self/mountinfo || true)
if [ -n "$mounts" ]; then echo "leaked mounts:"; echo "$mounts"; status=1; fi
cgroups=$(ls -d /sys/fs/cgroup/*/berth-e2e-* /sys/fs/cgroup/berth-e2e-* 2>/dev/null || true)
if [ -n "$cgroups" ]; then echo "leaked cgroups:"; echo "$cgroups"; status=1; fi
links=$(grep -l '^berth:be' /sys/class/net/*/ifalias 2>/dev/null || true)
if [ -n "$links" ]; then echo "leaked interfaces of test daemons:"; echo "$links"; status=1; fi
tables=$(nft list tables 2>/dev/null | grep ' berth-be' || true)
if [ -n "$tables" ]; then echo "leaked nftables tables of test daemons:"; echo "$tables"; status=1; fi
dirs=$(ls -d /tmp/be-* 2>/dev/null || true)
if [ -n "$dirs" ]; then echo "leaked test dirs:"; echo "$dirs"; status=1; fi
[ $status = 0 ] && echo "leak check: clean"
exit $status
