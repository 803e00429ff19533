#!/usr/bin/env bash
# Stop the local cluster started by cluster/local/start.sh (only that one: other
# Ray clusters on this machine keep running). Its processes are found by the
# temp dir on their command lines, with their descendants (workers, agents);
# they get SIGTERM, and SIGKILL after 5 s (as `ray stop`).
set -euo pipefail
state_dir="${VIDRAY_CLUSTER_DIR:-${TMPDIR:-/tmp}/vidray-cluster}"
if [[ ! -f "$state_dir/temp_dir" ]]; then
  echo "stop.sh: no cluster recorded in $state_dir (set VIDRAY_CLUSTER_DIR as for start.sh)" >&2
  exit 1
fi
temp_dir="$(cat "$state_dir/temp_dir")"

with_descendants() {
  local pid
  for pid in "$@"; do
    echo "$pid"
    with_descendants $(pgrep -P "$pid" || true)
  done
}

pids=$(with_descendants $(pgrep -f -- "$temp_dir/" || true) | sort -u)
if [[ -n "$pids" ]]; then
  kill $pids 2>/dev/null || true
  for _ in $(seq 10); do
    alive=$(ps -o pid= -p $(echo $pids | tr ' ' ',') 2>/dev/null || true)
    [[ -z "$alive" ]] && break
    sleep 0.5
  done
  alive=$(ps -o pid= -p $(echo $pids | tr ' ' ',') 2>/dev/null || true)
  [[ -n "$alive" ]] && kill -9 $alive 2>/dev/null || true
fi
rm -f "$state_dir/address" "$state_dir/temp_dir"
echo "Ray cluster stopped"
