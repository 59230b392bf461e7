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

# Daily operations, on the first run: venues, people, kits of simulated
# devices, and one kit wiped, provisioned and lent, so that every view has
# something to show.
tags() { valise devices list --class "$1" --json | grep -o '"asset_tag": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'; }
mkdir -p "$dir/tokens"
if [ -z "$(valise kits list --json | grep -o '"id"' | head -1)" ]; then
	echo "demo: creating venues, people and kits, and lending Kit 01 (first run only)"
	valise venues add --name "France Services Baugé" --kind france_services --commune "Baugé-en-Anjou" --insee 49018 --lat 47.5414 --lon -0.1044 >/dev/null
	valise venues add --name "Médiathèque de Seiches" --kind mediatheque --commune "Seiches-sur-le-Loir" --insee 49333 >/dev/null
	valise venues add --name "Mairie de Durtal" --kind mairie --commune "Durtal" --insee 49127 >/dev/null
	for person in "awa:Awa Diallo:mediateur" "karim:Karim Benali:mediateur" "lea:Léa Martin:logistics" "camille:Camille Roux:technician"; do
		IFS=: read -r short name role <<<"$person"
		file="$dir/tokens/$short.token"
		valise users add --name "$name" --role "$role" --json | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' >"$file"
		chmod 600 "$file"
	done
	mapfile -t laptops < <(tags laptop | tail -n +2) # the first laptop is this machine
	mapfile -t tablets < <(tags tablet)
	mapfile -t hotspots < <(tags hotspot)
	for i in 1 2 3 4; do
		kit="Kit 0$i"
		valise kits create --label "$kit" --home "France Services Baugé" --accessory "chargeurs x3" --accessory "sacoche" --accessory "câbles USB-C" >/dev/null
		valise kits add "$kit" "${laptops[@]:$(((i - 1) * 3)):3}" "${tablets[$((i - 1))]}" "${hotspots[$((i - 1))]}" >/dev/null
	done
	for tag in $(valise kits show "Kit 01" --json | grep -o '"asset_tag": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'); do
		valise wipe "$tag" --yes --wait >/dev/null || echo "demo: wiping $tag failed" >&2
	done
	for tag in "${laptops[@]:0:3}"; do valise provision "$tag" --profile laptop-linux --wait >/dev/null || echo "demo: provisioning $tag failed" >&2; done
	valise provision "${tablets[0]}" --profile tablet-android --wait >/dev/null || echo "demo: provisioning ${tablets[0]} failed" >&2
	valise provision "${hotspots[0]}" --profile hotspot-openwrt --wait >/dev/null || echo "demo: provisioning ${hotspots[0]} failed" >&2
	VALISE_TOKEN=$(cat "$dir/tokens/awa.token") valise loans checkout "Kit 01" --venue "Mairie de Durtal" --due "$(date -d '+7 days' +%F)" >/dev/null ||
		echo "demo: lending Kit 01 failed; see valise kits show 'Kit 01'" >&2
fi

# A simulated laptop of Kit 02 to try the wipe cycle on.
tag=$(valise kits show "Kit 02" --json | grep -o '"asset_tag": *"[^"]*"' | sed -n '1s/.*"\([^"]*\)"$/\1/p')
tag=${tag:-VAL-0002}

cat <<MSG

Valise demo is running ($(valise devices list --json | grep -o '"id"' | wc -l) devices, ${n:-0} online).

  Dashboard and API   $url/  (sign in with a token of $dir/tokens/ or $dir/admin.token)
  Admin token         $dir/admin.token
  Metrics             $url/metrics
  Logs                $dir/server.log, $dir/agent.log, $dir/simulate.log

In another shell:

  export VALISE_SERVER=$url VALISE_TOKEN=\$(cat $dir/admin.token)
  $bin/valise devices list
  $bin/valise devices show VAL-0001
  $bin/valise devices list --class hotspot --json

the kits, their loans and venues (Kit 01 is out with Awa Diallo, médiateur; the others wait for a wipe):

  $bin/valise kits list
  $bin/valise kits show "Kit 01"
  $bin/valise loans list --open
  VALISE_TOKEN=\$(cat $dir/tokens/awa.token) $bin/valise loans checkin "Kit 01" --missing "sacoche"
  $bin/valise loans checkout "Kit 02" --to "Karim Benali" --venue "Médiathèque de Seiches" --due $(date -d '+14 days' +%F)   # refused: not wiped
  $bin/valise audit list --kit "Kit 01"

and the wipe-before-reuse cycle on a simulated laptop of Kit 02 (its disk is a real file, really overwritten):

  $bin/valise wipe $tag --yes --wait
  $bin/valise certificate show $tag --pdf $tag.pdf
  $bin/valise provision $tag --profile laptop-linux --wait
  $bin/valise devices history $tag

Tokens of the demo's people (médiateurs Awa and Karim, Léa for logistics, Camille the
technician) are in $dir/tokens/.

Ctrl-C stops the demo; its data stays in $dir/.
MSG
wait "${pids[0]}"
