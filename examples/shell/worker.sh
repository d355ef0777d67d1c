#!/bin/sh
# A Tempest worker written with redis-cli and standard shell tools alone: the proof that any
# language that can run a Redis command can serve web requests behind the front.
#
#   examples/shell/worker.sh [--redis URL] [--queue NAME] [--answer-allow HOST:PORT,...] [--once]
#
# It answers every request with `Hello world!` (plain text, and `X-Worker: shell`), like the
# hello workers of every client, so it can serve the same queue as they do; one job at a time:
#
#   1. BLPOP <queue>:high <queue> <queue>:low 1       take a job, highest priority first (plain,
#                                                     at-most-once mode: protocol.md 1.6, 8.1)
#   2. pick respond_to, the job id and the deadline out of the job's JSON with sed
#   3. ZSCORE tempest:fronts <respond_to>             answer only an endpoint a front announces
#                                                     (protocol.md 3.5; a job could name any),
#                                                     or one in --answer-allow
#   4. redis-cli -h <host> -p <port> url <id> <json>  the answer, straight to the front (2.1)
#
# --redis URL: redis://[:password@]host[:port][/db] or unix:/path[?db=N]; default $TEMPEST_REDIS,
# else redis://127.0.0.1:6379/0. --queue NAME: default tempest. --once: exit after one job.
# --answer-allow HOST:PORT,...: endpoints answered although no front announces them (fronts
# that announce nothing, such as the 2012 one).
# An answer endpoint that does not reply within 5 s is given up (the request gets 504).
# $TEMPEST_ANSWER_PASSWORD, when set, is sent with AUTH to the answer endpoint.
# SIGTERM or SIGINT: exits after the job in hand (at most the 1 s a BLPOP waits).
# Costs: two or three redis-cli processes per job, so hundreds of jobs a second, not thousands.
set -u

redis=${TEMPEST_REDIS:-redis://127.0.0.1:6379/0}
queue=tempest
once=0
allow=,
while [ $# -gt 0 ]; do
  case $1 in
    --redis) [ $# -ge 2 ] || { echo "worker.sh: --redis needs a URL" >&2; exit 2; }; redis=$2; shift 2 ;;
    --redis=*) redis=${1#--redis=}; shift ;;
    --queue) [ $# -ge 2 ] || { echo "worker.sh: --queue needs a name" >&2; exit 2; }; queue=$2; shift 2 ;;
    --queue=*) queue=${1#--queue=}; shift ;;
    --answer-allow) [ $# -ge 2 ] || { echo "worker.sh: --answer-allow needs HOST:PORT,..." >&2; exit 2; }; allow=,$2,; shift 2 ;;
    --answer-allow=*) allow=,${1#--answer-allow=},; shift ;;
    --once) once=1; shift ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "worker.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$queue" ] || { echo "worker.sh: --queue must not be empty" >&2; exit 2; }
command -v redis-cli >/dev/null || { echo "worker.sh: redis-cli not found (apt install redis-tools)" >&2; exit 1; }

# redis-cli's arguments for the queue's Redis: -u URL, or -s PATH -n DB for unix:/path?db=N.
case $redis in
  unix:*)
    path=${redis#unix:}; db=0
    case $path in *\?db=*) db=${path##*\?db=}; path=${path%%\?*} ;; esac
    set -- -s "$path" -n "$db" ;;
  redis://*) set -- -u "$redis" ;;
  *) echo "worker.sh: --redis must be redis://... or unix:/path (got '$redis')" >&2; exit 2 ;;
esac
rcli() { redis-cli "$@" 2>/dev/null; }

stopping=0
trap 'stopping=1' TERM INT
rcli "$@" PING | grep -q PONG || { echo "worker.sh: Redis at $redis does not answer PING" >&2; exit 1; }
echo "worker.sh: taking jobs from '$queue' at $redis" >&2

while [ $stopping -eq 0 ]; do
  # --raw prints the list name, then the job (JSON has no raw newline), or nothing after 1 s.
  job=$(rcli "$@" --raw BLPOP "$queue:high" "$queue" "$queue:low" 1 | sed -n 2p)
  [ -n "$job" ] || continue
  # ["url",[{...}],"host:port",id]: respond_to and id are the last two items.
  # (Spaces are allowed where JSON allows them: other programs push jobs too.)
  tail='.*, *"\([^"]*\)" *, *\([0-9]\{1,16\}\) *\] *$'
  respond_to=$(printf '%s' "$job" | sed -n "s/$tail/\\1/p")
  id=$(printf '%s' "$job" | sed -n "s/$tail/\\2/p")
  action=$(printf '%s' "$job" | sed -n 's/^ *\[ *"\([a-z_]*\)".*/\1/p')
  if [ -z "$respond_to" ] || [ -z "$id" ] || [ "$action" != url ]; then
    echo "worker.sh: skipping a job that is not a url job with an answer address: $(printf '%.120s' "$job")" >&2
    continue
  fi
  deadline=$(printf '%s' "$job" | sed -n 's/.*"deadline" *: *\([0-9]\{1,16\}\).*/\1/p')
  # Redis TIME: seconds and microseconds, on two lines.
  now_ms=$(rcli "$@" --raw TIME | { read -r s; read -r us; echo $((s * 1000 + us / 1000)); })
  if [ -n "$deadline" ] && [ "$now_ms" -gt "$deadline" ]; then
    echo "worker.sh: job $id: deadline passed before it started; dropped" >&2
    continue
  fi
  valid_until=$(rcli "$@" --raw ZSCORE tempest:fronts "$respond_to" | sed 's/\..*//')
  if { [ -z "$valid_until" ] || [ "$valid_until" -lt "$now_ms" ]; } && [ "${allow#*,"$respond_to",}" = "$allow" ]; then
    echo "worker.sh: job $id: $respond_to is not an announced answer endpoint; dropped" >&2
    continue
  fi
  host=${respond_to%:*}; port=${respond_to##*:}
  host=${host#[}; host=${host%]}
  answer="[200, {\"Content-Type\": \"text/plain; charset=utf-8\", \"X-Worker\": \"shell\"}, \"Hello world!\"]"
  # (REDISCLI_AUTH only when a password is set: an empty one would still send AUTH.)
  reply=$(env ${TEMPEST_ANSWER_PASSWORD:+REDISCLI_AUTH="$TEMPEST_ANSWER_PASSWORD"} \
    timeout 5 redis-cli -h "$host" -p "$port" url "$id" "$answer" 2>/dev/null)
  [ "$reply" = OK ] || echo "worker.sh: job $id: $respond_to replied: ${reply:-nothing (unreachable?)}" >&2
  [ $once -eq 0 ] || break
done
echo "worker.sh: stopped" >&2
