#!/usr/bin/env bash
# make demo: valise-server with its embedded broker and store under the demo
# directory, a real agent for this machine, and a simulated fleet of 40
# devices (28 laptops, 8 tablets, 4 hotspots). Ctrl-C stops everything; the
# data stays, and the next run picks up the same fleet.
set -euo pipefail

bin=${1:-bin}
dir=${2:-demo-data}
http=${DEMO_HTTP:-127.0.0.1:8080}
mqtt=${DEMO_MQTT:-127.0.0.1:1883}
url="http://$http"
interval=${DEMO_INTERVAL:-30s}

mkdir -p "$dir"
pids=()
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

for addr in "$http" "$mqtt"; do
	if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
		echo "demo: $addr is already in use (another valise-server or Mosquitto?); set DEMO_HTTP / DEMO_MQTT" >&2
		exit 1
	fi
done

# Provisioned laptops and tablets join the kits' hotspot; the demo's is made up.
VALISE_KIT_WIFI_SSID=${VALISE_KIT_WIFI_SSID:-Valise-Demo} VALISE_KIT_WIFI_KEY=${VALISE_KIT_WIFI_KEY:-demo-passphrase-only} \
	"$bin/valise-server" --data "$dir" --http "$http" --mqtt "$mqtt" >>"$dir/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
	curl -fsS "$url/healthz" >/dev/null 2>&1 && break
	kill -0 "${pids[0]}" 2>/dev/null || { echo "demo: valise-server exited; see $dir/server.log" >&2; tail -5 "$dir/server.log" >&2; exit 1; }
	sleep 0.1
done
curl -fsS "$url/healthz" >/dev/null || { echo "demo: valise-server does not answer on $url" >&2; exit 1; }

export VALISE_SERVER="$url" VALISE_TOKEN
VALISE_TOKEN=$(cat "$dir/admin.token")
valise() { "$bin/valise" "$@"; }
token() { valise enroll-token create --class "$1" --uses "$2" --expires 1h --json | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' | head -1; }

# A real agent for this machine.
if [ ! -f "$dir/agent/state.json" ]; then
	"$bin/valise-agent" enroll --server "$url" --token "$(token laptop 1)" --state "$dir/agent" >>"$dir/agent.log" 2>&1 ||
		{ echo "demo: enrolling this machine failed; see $dir/agent.log" >&2; tail -5 "$dir/agent.log" >&2; exit 1; }
fi
"$bin/valise-agent" run --state "$dir/agent" --interval "$interval" >>"$dir/agent.log" 2>&1 &
pids+=($!)

# The simulated fleet, one simulator per class (devices take their token's class).
for spec in laptop:28 tablet:8 hotspot:4; do
	class=${spec%:*} count=${spec#*:}
	"$bin/valise-agent" simulate --count "$count" --server "$url" --token "$(token "$class" "$count")" \
		--class "$class" --interval "$interval" --state "$dir/sim-$class" >>"$dir/simulate.log" 2>&1 &
	pids+=($!)
done

# Wait until the fleet has reported.
for _ in $(seq 1 150); do
	n=$(valise devices list --online --json 2>/dev/null | grep -o '"id"' | wc -l || true)
	[ "${n:-0}" -ge 41 ] && break
	sleep 0.2
done

# A simulated laptop to try the wipe cycle on (the first laptop is this machine).
tag=$(valise devices list --class laptop --json | grep -o '"asset_tag": *"[^"]*"' | sed -n '2s/.*"\([^"]*\)"$/\1/p')
tag=${tag:-VAL-0002}

cat <<MSG

Valise demo is running ($(valise devices list --json | grep -o '"id"' | wc -l) devices, ${n:-0} online).

  API and dashboard   $url
  Admin token         $dir/admin.token
  Metrics             $url/metrics
  Logs                $dir/server.log, $dir/agent.log, $dir/simulate.log

In another shell:

  export VALISE_SERVER=$url VALISE_TOKEN=\$(cat $dir/admin.token)
  $bin/valise devices list
  $bin/valise devices show VAL-0001
  $bin/valise devices list --class hotspot --json

and the wipe-before-reuse cycle on a simulated laptop (its disk is a real file, really overwritten):

  $bin/valise wipe $tag --yes --wait
  $bin/valise certificate show $tag --pdf $tag.pdf
  $bin/valise provision $tag --profile laptop-linux --wait
  $bin/valise devices history $tag

Ctrl-C stops the demo; its data stays in $dir/.
MSG
wait "${pids[0]}"
