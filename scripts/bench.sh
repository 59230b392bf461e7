#!/usr/bin/env bash
# make bench: runs Valise's benchmarks next to baselines started in the same
# run, and writes bench/results.md with each figure as a ratio against its
# baseline, the machine and the date. The machine may be shared and noisy:
# read ratios, not absolute numbers, and re-run when in doubt.
#
#   BENCH_COUNT               repetitions of each Go benchmark (median kept), default 3
#   BENCH_FOOTPRINT_SECONDS   how long the agent and the baseline client run idle, default 185
set -euo pipefail
cd "$(dirname "$0")/.."

# The wipe baseline is Debian's nwipe; the rest comes with make deps.
if ! command -v nwipe >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nwipe >/dev/null 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nwipe >/dev/null; } || true
fi

count=${BENCH_COUNT:-3}
idle=${BENCH_FOOTPRINT_SECONDS:-185}
out=bench/results.md
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# metric FILE BENCHMARK UNIT: the median of a benchmark's reported UNIT.
metric() { awk -v b="^$2(-[0-9]+)?\$" -v u="$3" '$1 ~ b {for (i=2;i<=NF;i++) if ($i==u) print $(i-1)}' "$1" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b==0) print "nan"; else printf "%.2f", a/b}'; }
freeport() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

echo "bench: durable ingest against Mosquitto (count $count)"
go test -run '^$' -bench '^(BenchmarkDurableIngest|BenchmarkMosquittoBaseline)$' -benchtime 30000x -count "$count" ./server/broker | tee "$work/ingest.txt"
ingest=$(metric "$work/ingest.txt" BenchmarkDurableIngest msg/s)
mosq=$(metric "$work/ingest.txt" BenchmarkMosquittoBaseline msg/s)
batch=$(metric "$work/ingest.txt" BenchmarkDurableIngest msg/commit)

echo "bench: one full collection on this machine"
go test -run '^$' -bench '^BenchmarkCollect$' -benchtime 20x -count "$count" ./agent/collect | tee "$work/collect.txt"
collect_ms=$(awk -v n="$(metric "$work/collect.txt" BenchmarkCollect ns/op)" 'BEGIN {printf "%.1f", n/1e6}')

# Daily operations at national scale (issue 4): a fleet of 100,000 devices,
# 20,000 kits and 1,000,000 audit events, seeded once per run (about two
# minutes), answering through the real API handler over a store that
# fsyncs. Each benchmark reports the p50 and p99 of its requests.
echo "bench: daily operations over a national fleet (count $count)"
go test -run '^$' -bench '^BenchmarkScale' -benchtime 200x -count "$count" -timeout 30m ./server/api | tee "$work/scale.txt"
scale_fleet=$(sed -n 's/.*scale fleet: //p' "$work/scale.txt" | head -1)
for b in NeedsWipe OverdueLoans KitReadiness Checkout; do
	declare "p50_$b=$(metric "$work/scale.txt" "BenchmarkScale$b" p50-ms)" "p99_$b=$(metric "$work/scale.txt" "BenchmarkScale$b" p99-ms)"
done
page_NeedsWipe=$(printf %.0f "$(metric "$work/scale.txt" BenchmarkScaleNeedsWipe devices/page)")

echo "bench: binaries"
make -s build BIN="$work/bin" >/dev/null
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/bin/pahoclient" ./bench/pahoclient
agent_size=$(stat -c %s "$work/bin/valise-agent")
base_size=$(stat -c %s "$work/bin/pahoclient")

echo "bench: agent and baseline client idle for ${idle}s at a 60 s interval"
http=127.0.0.1:$(freeport) mqtt=127.0.0.1:$(freeport)
"$work/bin/valise-server" --data "$work/data" --http "$http" --mqtt "$mqtt" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://$http/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
export VALISE_SERVER="http://$http" VALISE_TOKEN
VALISE_TOKEN=$(cat "$work/data/admin.token")
token=$("$work/bin/valise" enroll-token create --class laptop --json | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' | head -1)
"$work/bin/valise-agent" enroll --server "http://$http" --token "$token" --state "$work/agent" >"$work/agent.log" 2>&1
"$work/bin/valise-agent" run --state "$work/agent" --interval 60s >>"$work/agent.log" 2>&1 &
agent=$!
pids+=($agent)
"$work/bin/pahoclient" --broker "tcp://$mqtt" --user valise-server --password "$(cat "$work/data/mqtt.password")" --interval 60s &
base=$!
pids+=($base)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
sleep 5
a0=$(ticks $agent) b0=$(ticks $base) t0=$(date +%s.%N)
sleep "$idle"
a1=$(ticks $agent) b1=$(ticks $base) t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
cpu() { awk -v d="$1" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.3f", 100 * d / hz / (t1 - t0)}'; }
agent_cpu=$(cpu $((a1 - a0))) base_cpu=$(cpu $((b1 - b0)))
agent_rss=$(rss $agent) base_rss=$(rss $base) agent_hwm=$(hwm $agent)
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# Wipe: overwrite + full verification of one 2 GiB loop device by Valise,
# Debian's nwipe and dd (write, then read-back), one after the other on the
# same device in this run. The loop device does direct I/O on its backing
# file (in the work dir, on this machine's disk), as a disk would: what a
# tool wrote is on the disk, not in the page cache of the backing file.
# nwipe runs once: it takes minutes.
wipe_valise=nan wipe_nwipe=nan wipe_dd=nan wipe_tool="nwipe (not run: needs root, /dev/loop-control, losetup and nwipe)"
if [ "$(id -u)" = 0 ] && [ -e /dev/loop-control ] && command -v losetup >/dev/null && command -v nwipe >/dev/null; then
	echo "bench: overwrite + verification of a 2 GiB loop device: Valise, nwipe, dd"
	truncate -s 2G "$work/wipe.img"
	loopdev=$(losetup -f --show --direct-io=on "$work/wipe.img")
	trap 'losetup -d "$loopdev" 2>/dev/null; cleanup' EXIT
	wipe_tool=$(nwipe --version 2>/dev/null | head -1)
	elapsed() {
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >>"$work/wipe.log" 2>&1 || true
		t1=$(date +%s.%N)
		awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
	}
	VALISE_BENCH_DEVICE=$loopdev go test -run '^$' -bench '^BenchmarkWipeLoop$' -benchtime 1x -count "$count" ./agent/wipe | tee "$work/wipe.txt"
	for _ in $(seq "$count"); do
		elapsed sh -c "dd if=/dev/zero of=$loopdev bs=16M oflag=direct status=none; dd if=$loopdev of=/dev/null bs=16M iflag=direct status=none" >>"$work/dd.s"
	done
	elapsed nwipe --method=zero --verify=last --nousb --autonuke --nowait --noblank --nogui "$loopdev" >>"$work/nwipe.s"
	losetup -d "$loopdev"
	trap cleanup EXIT
	rm -f "$work/wipe.img"
	mbs() { awk -v s="$1" 'BEGIN {if (s + 0 == 0) print "nan"; else printf "%.1f", 2147483648 / s / 1e6}'; }
	wipe_valise=$(metric "$work/wipe.txt" BenchmarkWipeLoop MB/s)
	wipe_dd=$(mbs "$(median <"$work/dd.s")")
	wipe_nwipe=$(mbs "$(median <"$work/nwipe.s")")
	echo "bench: wipe MB/s: Valise $wipe_valise, dd $wipe_dd, $wipe_tool $wipe_nwipe"
else
	touch "$work/wipe.txt"
fi

mkdir -p bench
cat >"$out" <<MD
# Benchmark results

Written by \`make bench\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo),
$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go version | cut -d' ' -f3), $( (mosquitto -h 2>/dev/null || true) | head -1)).
Each baseline ran in the same command as the figure it is compared with.

| figure | Valise | baseline | ratio | target |
| --- | --- | --- | --- | --- |
| durable ingest, 100 agents, 1 KiB QoS 1, PUBACK after fsync (msg/s) | $ingest ($batch msg/commit) | Mosquitto, no persistence, one QoS 1 subscriber: $mosq | $(ratio "$ingest" "$mosq") | ≥ 0.8 |
| agent stripped binary (bytes) | $agent_size | minimal paho client: $base_size | $(ratio "$agent_size" "$base_size") | ≤ 9 MiB ($((9 * 1024 * 1024))) |
| agent idle RSS at a 60 s interval (MiB) | $(mib "$agent_rss") (peak $(mib "$agent_hwm")) | minimal paho client: $(mib "$base_rss") | $(ratio "$agent_rss" "$base_rss") | ≤ 12 MiB |
| agent average CPU at a 60 s interval, over ${idle} s (%) | $agent_cpu | minimal paho client: $base_cpu | — | ≤ 0.5 % |
| one full collection: inventory + health + net (ms) | $collect_ms | — | — | ≤ 150 ms |
| overwrite + full verification, 2 GiB loop device, direct I/O (MB/s of the device) | $wipe_valise | $wipe_tool --method=zero --verify=last: $wipe_nwipe | $(ratio "$wipe_valise" "$wipe_nwipe") | ≥ 1.0 |
| overwrite + full verification, 2 GiB loop device, direct I/O (MB/s of the device) | $wipe_valise | dd bs=16M oflag=direct, then iflag=direct read-back: $wipe_dd | $(ratio "$wipe_valise" "$wipe_dd") | ≥ 0.8 |

## Daily operations at national scale

Through the HTTP API (real handler on loopback, real fleet, bbolt store with
fsync on), over $scale_fleet. Median over $count runs of each figure; each run
makes 200 requests, over 100 different pages of devices and 2,000 different kits.

| operation | p50 (ms) | p99 (ms) | target |
| --- | --- | --- | --- |
| devices needing a wipe, a page of $page_NeedsWipe (GET /api/v1/devices?state=needs_wipe) | $p50_NeedsWipe | $p99_NeedsWipe | p99 ≤ 20 ms |
| all overdue loans, 300 of 3,000 open (GET /api/v1/loans?overdue=true&limit=500) | $p50_OverdueLoans | $p99_OverdueLoans | p99 ≤ 20 ms |
| a kit's readiness: wipe gate and live telemetry of its 5 devices (GET /api/v1/kits/{ref}) | $p50_KitReadiness | $p99_KitReadiness | p99 ≤ 20 ms |
| checkout of an available kit, committed with fsync (POST /api/v1/kits/{ref}/checkout) | $p50_Checkout | $p99_Checkout | p99 ≤ 10 ms |

Raw benchmark output:

\`\`\`
$(grep -h '^Benchmark' "$work/ingest.txt" "$work/collect.txt" "$work/wipe.txt" "$work/scale.txt")
\`\`\`
MD
echo "bench: wrote $out"
cat "$out"
