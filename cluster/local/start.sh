#!/usr/bin/env bash
# Start a multi-node Ray cluster on this machine: one head node and N worker
# nodes, each a separate raylet with its own CPUs, object store and a custom
# resource naming it ("head" or "worker_node"), so scheduling across nodes,
# node failures and `ray job submit` behave as on a real cluster.
#
#   cluster/local/start.sh [--workers N] [--cpus-per-node C] [--port P]
#                          [--object-store-mb M] [--dashboard] [--dashboard-port D]
#                          [--head-resources JSON] [--worker-resources I JSON]...
#
# --head-resources / --worker-resources add custom resources to the head / the
# I-th worker node (1-based), e.g. the devices a node owns for the device farm:
#   --worker-resources 1 '{"device:pixel7-a": 1}'
#
# Prints the cluster address (also written to $VIDRAY_CLUSTER_DIR/address);
# stop it with cluster/local/stop.sh.
set -euo pipefail

workers=1
cpus=2
port=6380
object_store_mb=1024
dashboard=false
dashboard_port=8265
head_resources='{}'
declare -A worker_resources=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --cpus-per-node) cpus="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --object-store-mb) object_store_mb="$2"; shift 2 ;;
    --dashboard) dashboard=true; shift ;;
    --dashboard-port) dashboard=true; dashboard_port="$2"; shift 2 ;;
    --head-resources) head_resources="$2"; shift 2 ;;
    --worker-resources) worker_resources["$2"]="$3"; shift 3 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "start.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# A node's resources: its name resource plus the caller's JSON object (checked here, not by a raylet log).
resources_json() {
  python3 -c 'import json, sys
extra = json.loads(sys.argv[2])
if not isinstance(extra, dict) or not all(isinstance(v, (int, float)) for v in extra.values()):
    sys.exit("start.sh: resources must be a JSON object of numbers, got " + sys.argv[2])
print(json.dumps({sys.argv[1]: 1, **extra}))' "$1" "$2"
}
head_json=$(resources_json head "$head_resources")
for i in "${!worker_resources[@]}"; do
  if ! [[ "$i" =~ ^[0-9]+$ ]] || ((i < 1 || i > workers)); then
    echo "start.sh: --worker-resources $i: no such worker node (1..$workers)" >&2; exit 2
  fi
done

ray_bin="${RAY_BIN:-$(command -v ray || true)}"
if [[ -z "$ray_bin" ]]; then
  echo "start.sh: the 'ray' command is not on PATH (activate the venv: source .venv/bin/activate)" >&2
  exit 2
fi
# The nodes listen on loopback only; Ray's token authentication (on by default once a token
# exists in ~/.ray) is off unless the caller asks for it.
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
state_dir="${VIDRAY_CLUSTER_DIR:-${TMPDIR:-/tmp}/vidray-cluster}"
mkdir -p "$state_dir"
object_store_bytes=$((object_store_mb * 1024 * 1024))
address="127.0.0.1:${port}"
# Every process of this cluster names its temp dir on its command line: stop.sh finds them by it,
# so it stops this cluster only. Short, because Ray's socket paths must fit in 107 bytes.
temp_dir="${TMPDIR:-/tmp}/vidray-ray-${port}"

echo "$temp_dir" >"$state_dir/temp_dir"  # first, so stop.sh can clean up a start that fails half-way
dashboard_args=(--include-dashboard=false)
if [[ "$dashboard" == true ]]; then
  dashboard_args=(--include-dashboard=true --dashboard-host=127.0.0.1 --dashboard-port="$dashboard_port")
fi

"$ray_bin" start --head --node-ip-address=127.0.0.1 --port="$port" --num-cpus="$cpus" --temp-dir="$temp_dir" \
  --resources="$head_json" --object-store-memory="$object_store_bytes" \
  --disable-usage-stats "${dashboard_args[@]}" >"$state_dir/head.log" 2>&1 \
  || { cat "$state_dir/head.log" >&2; exit 1; }

for ((i = 1; i <= workers; i++)); do
  worker_json=$(resources_json worker_node "${worker_resources[$i]:-{\}}")
  "$ray_bin" start --address="$address" --node-ip-address=127.0.0.1 --num-cpus="$cpus" \
    --resources="$worker_json" --object-store-memory="$object_store_bytes" \
    --disable-usage-stats >"$state_dir/worker-$i.log" 2>&1 \
    || { cat "$state_dir/worker-$i.log" >&2; exit 1; }
done

echo "$address" >"$state_dir/address"
echo "Ray cluster up: 1 head + $workers worker node(s), $cpus CPUs each"
echo "RAY_ADDRESS=$address"
if [[ "$dashboard" == true ]]; then
  echo "dashboard and job API: http://127.0.0.1:${dashboard_port} (ray job submit --address http://127.0.0.1:${dashboard_port} ...)"
fi
