# shellcheck shell=bash
# Shared helpers for tools/start and tools/test. Source this file; it does nothing on its own.
#
# Every process a script starts goes through start_background, which records its PID, so that the
# cleanup trap can stop exactly those processes (and nothing else) in reverse start order.

# 4.4 for "wait -n" and for expanding empty arrays under "set -u".
if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  echo "error: these scripts need bash 4.4 or newer (on macOS: brew install bash)" >&2
  exit 1
fi

FLEET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Azurite's fixed development account; the key is public and the same on every machine.
readonly AZURITE_ACCOUNT="devstoreaccount1"
readonly AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# Nothing the scripts run should phone home; a user's own setting still wins.
export DOTNET_CLI_TELEMETRY_OPTOUT="${DOTNET_CLI_TELEMETRY_OPTOUT:-1}"
export DOTNET_NOLOGO="${DOTNET_NOLOGO:-1}"

# Parallel arrays: the PID, a display name and the log file of each started process.
FLEET_PIDS=()
FLEET_PID_NAMES=()
FLEET_PID_LOGS=()
# Folders to delete after every process is stopped (a process may still be writing into them).
FLEET_CLEANUP_DIRS=()

log() { printf '%s\n' "$*" >&2; }

die() {
  log "error: $*"
  exit 1
}

require_command() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; $2"
}

# True when something accepts TCP connections on 127.0.0.1:<port>. Uses bash's /dev/tcp, which
# needs no extra tool; a refused connection on loopback fails immediately.
port_open() {
  (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Fails with the port and the variable that moves it, instead of letting a later bind error (or a
# client silently talking to someone else's server) explain it.
require_port_free() {
  local port=$1 what=$2 override=$3
  if port_open "$port"; then
    die "port $port ($what) is already in use on 127.0.0.1; stop whatever holds it" \
      "(check with: ss -ltnp 'sport = :$port') or choose another port with $override"
  fi
}

# ---------------------------------------------------------------------------------------------
# Processes

# A process is still running when kill -0 succeeds and it is not a zombie: our own children stay
# visible to kill -0 after they exit, until they are reaped with wait.
is_running() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]
}

# start_background <name> <log-file> <work-dir> <command...>
# Runs the command from work-dir in the background, appending its output to the log file, and
# records its PID (exec keeps the PID the command's own). setsid gives it its own session, so a
# Ctrl-C in the terminal reaches only the script, which then stops everything in order (the Api and
# silos before the storage they still write to). Standard input is /dev/null so that no child
# waits on, or changes, the terminal.
start_background() {
  local name=$1 log_file=$2 work_dir=$3
  shift 3
  local launcher=()
  command -v setsid >/dev/null 2>&1 && launcher=(setsid)

  mkdir -p "$(dirname "$log_file")"
  printf '===== %s started %s =====\n' "$name" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log_file"
  { cd "$work_dir" && exec "${launcher[@]}" "$@"; } </dev/null >>"$log_file" 2>&1 &
  LAST_PID=$!
  FLEET_PIDS+=("$LAST_PID")
  FLEET_PID_NAMES+=("$name")
  FLEET_PID_LOGS+=("$log_file")
}

# Prints the last lines of a log, indented, so a failure shows its cause without opening a file.
show_log_tail() {
  local log_file=$1 lines=${2:-30}
  [[ -f "$log_file" ]] || return 0
  log "----- last $lines lines of $log_file -----"
  tail -n "$lines" "$log_file" | sed 's/^/  /' >&2
  log "-----"
}

# TERM, then up to 10 s for a graceful exit (silos leave the cluster cleanly), then KILL.
stop_pid() {
  local pid=$1 name=$2 i
  is_running "$pid" || {
    wait "$pid" 2>/dev/null || true
    return 0
  }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    is_running "$pid" || break
    sleep 0.1
  done
  if is_running "$pid"; then
    log "$name (pid $pid) did not stop within 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Stops recorded processes newest first, then deletes the registered folders. Runs once, on EXIT;
# INT and TERM only turn into an exit so that this runs exactly once with a meaningful status.
cleanup_on_exit() {
  local status=$? i
  trap - EXIT INT TERM
  for ((i = ${#FLEET_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${FLEET_PIDS[i]}" "${FLEET_PID_NAMES[i]}"
  done
  for i in "${FLEET_CLEANUP_DIRS[@]}"; do
    rm -rf -- "$i"
  done
  exit "$status"
}

install_cleanup_trap() {
  trap cleanup_on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Waits while the recorded processes run. One that exits on its own is reported with its log, and
# the others keep running, so that killing one silo to watch a failover works; Ctrl-C (the trap)
# stops the rest. Returns 1 once none is left.
watch_processes() {
  local i status reported=()
  while true; do
    status=0
    wait -n || status=$?
    ((status != 127)) || return 1 # no child left to wait for

    for i in "${!FLEET_PIDS[@]}"; do
      if [[ -z ${reported[i]:-} ]] && ! is_running "${FLEET_PIDS[i]}"; then
        reported[i]=1
        log "${FLEET_PID_NAMES[i]} (pid ${FLEET_PIDS[i]}) exited; the rest keep running until Ctrl-C"
        show_log_tail "${FLEET_PID_LOGS[i]}" 15
      fi
    done
  done
}

# wait_http <url> <timeout-seconds> [pid]
# Polls until the URL answers 2xx. Given a PID, gives up at once if that process has exited.
# --noproxy keeps a user's HTTP proxy setting from sending loopback requests elsewhere.
wait_http() {
  local url=$1 timeout=$2 pid=${3:-} code deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    code=$(curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [[ "$code" == 2?? ]] && return 0
    if [[ -n "$pid" ]] && ! is_running "$pid"; then
      log "the process behind $url (pid $pid) exited before it answered"
      return 1
    fi
    sleep 0.5
  done
  log "$url did not answer 2xx within ${timeout}s (last status: ${code:-none})"
  return 1
}

# ---------------------------------------------------------------------------------------------
# Azurite

# Installs the pinned Azurite when it is missing or package-lock.json changed since the last install
# (npm ci rewrites node_modules/.package-lock.json, so its age marks the last install).
ensure_azurite() {
  local bin="$FLEET_ROOT/node_modules/.bin/azurite"
  local stamp="$FLEET_ROOT/node_modules/.package-lock.json"
  local lock="$FLEET_ROOT/package-lock.json"
  [[ -x "$bin" && -f "$stamp" && ! "$lock" -nt "$stamp" ]] && return 0

  require_command npm "install Node.js 20 or newer (it provides npm); Azurite runs on it"
  local log_file="$FLEET_ROOT/.data/npm-ci.log"
  mkdir -p "$(dirname "$log_file")"
  log "Installing Azurite (npm ci; log: ${log_file#"$FLEET_ROOT"/})..."
  if ! (cd "$FLEET_ROOT" && npm ci --no-audit --no-fund) >"$log_file" 2>&1; then
    show_npm_failure "$log_file"
    die "npm ci failed; the full log is $log_file"
  fi
}

# npm states the cause first and may follow it with pages of usage text, so show both ends.
show_npm_failure() {
  local log_file=$1
  log "----- $log_file -----"
  if (($(wc -l <"$log_file") <= 30)); then
    sed 's/^/  /' "$log_file" >&2
  else
    { head -n 12 "$log_file" && echo "..." && tail -n 12 "$log_file"; } | sed 's/^/  /' >&2
  fi
  log "-----"
}

# azurite_connection_string <blob-port> <queue-port> <table-port>
azurite_connection_string() {
  local base="http://127.0.0.1"
  printf 'DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;' "$AZURITE_ACCOUNT" "$AZURITE_KEY"
  printf 'BlobEndpoint=%s:%s/%s;' "$base" "$1" "$AZURITE_ACCOUNT"
  printf 'QueueEndpoint=%s:%s/%s;' "$base" "$2" "$AZURITE_ACCOUNT"
  printf 'TableEndpoint=%s:%s/%s;\n' "$base" "$3" "$AZURITE_ACCOUNT"
}

# start_azurite <data-dir> <blob-port> <queue-port> <table-port> <log-file> [env-prefix] [memory]
# env-prefix names the variables that move the ports (FLEET_AZURITE gives FLEET_AZURITE_TABLE_PORT),
# so the "port in use" message can say exactly what to set. "memory" keeps Azurite's data in memory
# only (--inMemoryPersistence): for throwaway storage, where Azurite would otherwise spend more and more
# of its one core saving its whole table database to disk as the tables grow.
start_azurite() {
  local dir=$1 blob=$2 queue=$3 table=$4 log_file=$5 prefix=${6:-FLEET_AZURITE} persistence=(--location "$1")
  # Azurite refuses --location together with --inMemoryPersistence.
  [[ ${7:-} == memory ]] && persistence=(--inMemoryPersistence)
  require_port_free "$table" "Azurite table" "${prefix}_TABLE_PORT"
  require_port_free "$blob" "Azurite blob" "${prefix}_BLOB_PORT"
  require_port_free "$queue" "Azurite queue" "${prefix}_QUEUE_PORT"

  mkdir -p "$dir"
  start_background azurite "$log_file" "$FLEET_ROOT" node_modules/.bin/azurite \
    --silent --disableTelemetry \
    --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
    --blobPort "$blob" --queuePort "$queue" --tablePort "$table" \
    --skipApiVersionCheck --loose "${persistence[@]}"
  local pid=$LAST_PID

  # Usually ready in 1-2 s. Waiting here, rather than letting the tests find out, avoids the
  # minutes-long hang a storage client shows when nothing listens.
  local deadline=$((SECONDS + 20))
  until port_open "$table" && port_open "$blob" && port_open "$queue"; do
    if ! is_running "$pid"; then
      show_log_tail "$log_file"
      die "Azurite exited during start-up (log: $log_file)"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail "$log_file"
      die "Azurite did not listen on 127.0.0.1:$table within 20 s (log: $log_file)"
    fi
    sleep 0.2
  done
}
