#!/usr/bin/env bash
# Real-DAW check: Debian's Ardour 7, headless (ardour7-lua) on a JACK dummy
# server, loads "MAM Session.vst3" with the session sidechain2.json and checks
# that Sidechain 2 is audible at Ardour's master, that it is silent while only
# the main input and Sidechain 1 are fed, that the "Bus 1" stem carries it,
# and that the plugin shows Output + Bus 1..Bus 8 (18 audio outputs).
#
#   apt-get install -y ardour jackd2      # once (Debian 12: Ardour 7.3)
#   cargo xtask bundle mam_session --release
#   scripts/ardour/check_vst3.sh          # exit 0 = pass
#
# Environment (all optional):
#   MAM_VST3_DIR   folder holding "MAM Session.vst3" (default: target/bundled)
#   ARDOUR_LIBDIR  Ardour's private lib folder (default: /usr/lib/ardour7)
#   CHECK_TRIES    runs allowed when JACK drops Ardour's client (default: 4)
#   MAM_ARDOUR_BACKEND=dummy  Ardour's own dummy backend instead of JACK
#                  (no jackd needed; the same checks)
#   KEEP_TMP=1     keep the temporary folder (Ardour session, logs)
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bundle_dir="${MAM_VST3_DIR:-$root/target/bundled}"
bundle="$bundle_dir/MAM Session.vst3"
ardour_lib="${ARDOUR_LIBDIR:-/usr/lib/ardour7}"
tries="${CHECK_TRIES:-4}"
lua="$here/check_vst3.lua"

die() { echo "check_vst3: $*" >&2; exit 2; }

command -v ardour7-lua >/dev/null || die "ardour7-lua not found (apt-get install -y ardour)"
use_jack=1
[ "${MAM_ARDOUR_BACKEND:-jack}" = dummy ] && use_jack=0
if [ "$use_jack" = 1 ]; then
	command -v jackd >/dev/null || die "jackd not found (apt-get install -y jackd2)"
	command -v jack_lsp >/dev/null || die "jack_lsp not found (apt-get install -y jackd2)"
fi
scanner="$ardour_lib/ardour-vst3-scanner"
[ -x "$scanner" ] || die "Ardour's VST3 scanner not found at $scanner (set ARDOUR_LIBDIR)"
[ -d "$bundle" ] || die "no bundle at '$bundle' (cargo xtask bundle mam_session --release)"

start=$(date +%s)
tmp="$(mktemp -d /tmp/mam-ardour.XXXXXX)"
jackd_pid=""
cleanup() {
	if [ -n "$jackd_pid" ]; then
		kill "$jackd_pid" 2>/dev/null
		wait "$jackd_pid" 2>/dev/null
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "check_vst3: kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# JACK: use a running server, else start a dummy one (no sound card needed).
# JACK_NO_START_SERVER keeps jack_lsp from starting a server of its own.
jack_up() { JACK_NO_START_SERVER=1 jack_lsp >/dev/null 2>&1; }
if [ "$use_jack" = 0 ]; then
	echo "check_vst3: Ardour's dummy backend (MAM_ARDOUR_BACKEND=dummy), no JACK"
elif jack_up; then
	echo "check_vst3: using the JACK server that is already running"
else
	jackd -d dummy -r 48000 -p 512 >"$tmp/jackd.log" 2>&1 &
	jackd_pid=$!
	for _ in $(seq 50); do
		jack_up && break
		kill -0 "$jackd_pid" 2>/dev/null || break
		sleep 0.2
	done
	jack_up || { cat "$tmp/jackd.log" >&2; die "jackd -d dummy did not start"; }
	echo "check_vst3: started jackd -d dummy -r 48000 -p 512 (pid $jackd_pid)"
fi

# A private Ardour configuration and cache: no user settings, blacklists or
# stale scan results take part. ardour7-lua only reads Ardour's VST3 scan
# cache (it never scans by itself), so Ardour's own scanner indexes the bundle
# first; VST3_PATH is where Ardour looks for VST3 bundles besides ~/.vst3,
# /usr/local/lib/vst3 and /usr/lib/vst3.
export XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache"
export VST3_PATH="$bundle_dir"
export MAM_SESSION="$here/sidechain2.json"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"
if ! LD_LIBRARY_PATH="$ardour_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	"$scanner" -f "$bundle" >"$tmp/scan.log" 2>&1; then
	cat "$tmp/scan.log" >&2
	die "Ardour's VST3 scanner could not load the bundle"
fi
grep -q "Found Plugin: MAM Session" "$tmp/scan.log" || { cat "$tmp/scan.log" >&2; die "the scanner found no 'MAM Session'"; }

# -X: ardour7-lua exits as soon as JACK drops its client. Debian's jackd2
# 1.9.21 sometimes does that while Ardour sets up a new session (the server
# logs "CheckSize error" / "Unknown request"); such a run has no result line
# and is started again.
result=""
for attempt in $(seq "$tries"); do
	log="$tmp/ardour-$attempt.log"
	rm -rf "$tmp/session"
	ardour7-lua -X "$lua" "$tmp/session" >"$log" 2>&1
	status=$?
	result="$(grep '^CHECK RESULT:' "$log" | tail -n 1)"
	[ -n "$result" ] && break
	halted="$(grep -m1 'Engine halted' "$log")"
	if [ -z "$halted" ]; then
		echo "check_vst3: ardour7-lua ended with status $status and no result (a crash?)" >&2
		break
	fi
	echo "check_vst3: run $attempt: JACK dropped Ardour's client ($halted); running again"
done

grep '^CHECK' "$log" | sed 's/^CHECK //'
elapsed=$(( $(date +%s) - start ))
if [ "$result" = "CHECK RESULT: PASS" ]; then
	echo "check_vst3: passed in ${elapsed} s"
	exit 0
fi
if [ -z "$result" ]; then
	echo "check_vst3: no result after $attempt run(s); last Ardour output:" >&2
	tail -n 30 "$log" >&2
fi
echo "check_vst3: FAILED after ${elapsed} s" >&2
exit 1
