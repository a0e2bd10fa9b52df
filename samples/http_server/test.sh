#!/usr/bin/env bash
# The http_server sample against a real HTTP client (curl):
#
#   test.sh path/to/http_server [path/to/curl]
#
# Starts the server on an ephemeral loopback port and checks the answers, a
# timeout (504), an overload (503), an unknown route (404) and a clean exit
# on SIGTERM. Asserts status codes, bodies and counts, never timings; every
# wait is generous.
#
# Two server runs, because one deadline cannot serve both kinds of check.
# The first has a 30 s deadline, so that every request an actor accepts is
# answered in time however slow this machine is: then a 200 is certain, and
# in the burst the only refusals are the mailbox's 503s. The second has a
# 100 ms deadline for the 504, from a backend that takes 1000 ms.
#
# The server is stopped by SIGTERM, as a deployment would stop it, rather
# than by an HTTP request: a sample others copy should not carry a remote
# "shut down" route.
set -euo pipefail

server=$1
curl=${2:-curl}
work=$(mktemp -d /tmp/troupe-http-test.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -s "$work/out" ] && { echo "--- server stdout:"; cat "$work/out"; } >&2
  [ -s "$work/err" ] && { echo "--- server stderr:"; cat "$work/err"; } >&2
  exit 1
}

# start ARGS...: starts the server on port 0 and waits (at most 30 s) for the
# first line of its output, which names the port. Sets pid and base.
start() {
  # Emptied here, not only by the redirection below: that one happens in the
  # child, maybe after the loop has read the previous run's port.
  : >"$work/out"
  "$server" --port 0 "$@" >"$work/out" 2>"$work/err" &
  pid=$!
  local line=""
  for ((i = 0; i < 300; i++)); do
    if [ "$(wc -l <"$work/out")" -ge 1 ]; then  # a whole line
      line=$(head -n 1 "$work/out")
      [[ $line == "listening on 127.0.0.1:"* ]] || fail "unexpected first line: $line"
      base="http://${line#listening on }"
      echo "server $* at $base"
      return
    fi
    kill -0 "$pid" 2>/dev/null || fail "the server exited before listening"
    sleep 0.1
  done
  fail "the server did not print its port within 30 s"
}

# stop: SIGTERM, then the server must exit with status 0 within 60 s.
stop() {
  kill -TERM "$pid"
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "the server did not exit within 60 s of SIGTERM"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" -eq 0 ] || fail "the server exited with status $rc"
  echo "server stopped: $(tail -n 1 "$work/out")"
}

# expect STATUS BODY CURL_ARGS...: one request; checks its status and body.
expect() {
  local want_status=$1 want_body=$2 status
  shift 2
  status=$("$curl" -sS --max-time 30 -o "$work/body" -w '%{http_code}' "$@") || fail "curl $* failed"
  [ "$status" = "$want_status" ] || fail "$* gave $status, expected $want_status (body: $(cat "$work/body"))"
  [ "$(cat "$work/body")" = "$want_body" ] || fail "$* gave body '$(cat "$work/body")', expected '$want_body'"
  echo "ok: $* -> $status"
}

# 1. Answers, an unknown route and an overload, with a 30 s deadline.
start --deadline-ms 30000
expect 200 42 "$base/value/answer"
expect 404 "no such key" "$base/value/nothing-here"
expect 200 stored -X PUT --data blue "$base/value/colour"
expect 200 blue "$base/value/colour"
expect 200 "slept 0 ms" "$base/slow?ms=0"
expect 404 "no such route" "$base/no/such/route"
expect 400 "expected ?ms=N, N at most 60000" "$base/work?ms=soon"
# Keep-alive: two requests on one connection.
status=$("$curl" -sS --max-time 30 -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
  "$base/value/answer" "$base/value/greeting") || fail "keep-alive requests failed"
[ "$status" = $'200 1\n200 0' ] || fail "keep-alive: got '$status', expected two 200s on one connection"
echo "ok: keep-alive"

# A burst at the worker (one job at a time, a mailbox of 4 that refuses when
# full): 16 requests at once, each job 200 ms. Every response is a 200 or a
# 503, at least one of each, and the server counts exactly one mailbox_full
# dead letter per 503.
burst=()
for ((i = 0; i < 16; i++)); do burst+=(-o /dev/null "$base/work?ms=200"); done
"$curl" -sS --no-progress-meter --max-time 60 --parallel --parallel-immediate --parallel-max 16 \
  -w '%{http_code}\n' "${burst[@]}" >"$work/codes" 2>"$work/curl-err" ||
  fail "burst: curl failed: $(cat "$work/curl-err")"
ok=$(grep -cx 200 "$work/codes" || true)
busy=$(grep -cx 503 "$work/codes" || true)
total=$(wc -l <"$work/codes")
echo "burst: $ok x 200, $busy x 503, $total responses"
[ "$total" -eq 16 ] || fail "burst: $total responses, expected 16: $(tr '\n' ' ' <"$work/codes")"
[ $((ok + busy)) -eq 16 ] || fail "burst: a status other than 200 or 503: $(tr '\n' ' ' <"$work/codes")"
[ "$busy" -ge 1 ] || fail "burst: no 503; the worker's mailbox never filled"
[ "$ok" -ge 1 ] || fail "burst: no 200; the worker accepted nothing"
stop
grep -qx "stopped: $busy mailbox_full, 0 expired, 0 unanswered" "$work/out" ||
  fail "burst: the server's dead letters do not match $busy x 503"
echo "ok: every 503 was a mailbox_full"

# 2. A timeout, with a 100 ms deadline: the backend is still asleep when the
# deadline comes. Its reply comes later, to nobody: shutdown waits for the
# work actors accepted, and counts that reply as unanswered.
start --deadline-ms 100
expect 504 timeout "$base/slow?ms=1000"
stop
grep -qx "stopped: 0 mailbox_full, 0 expired, 1 unanswered" "$work/out" ||
  fail "timeout: the late reply was not counted as unanswered"
echo "ok: the late reply was counted as unanswered"
