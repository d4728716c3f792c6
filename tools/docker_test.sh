#!/usr/bin/env bash
# The image against a real Docker engine: `make docker-test` (needs `docker info` to work).
#
# Builds the training image (forecaster-test) and the serving image (forecaster-test-serve) from
# the repository root, then runs them on a 1000-row slice of data/seattle_temps_2010.csv with a
# test-only configs/schedule.yaml (cron `* * * * *`, a GRU of 8 units, 3 epochs) and a temporary
# models volume, and prints one PASS/FAIL line with its seconds per check:
#   (a) the scheduled container promotes a version into the volume (champion.json)
#   (b) HEALTHCHECK (`forecast health`) turns the container healthy
#   (c) `docker stop` ends with exit code 0 in under 8 s (Docker kills at 10 s): while idle, during
#       a statistical fit (it does not poll the stop: the 5 s stop watchdog bounds it), mid-training
#   (d) `docker kill` (SIGKILL) mid-retrain leaves the champion intact; `docker start` resumes
#       the retrain from its checkpoint
#   (e) a second container on the same volume skips its retrain: the lock (exit 6, ledger line)
#   (f) `docker run --rm IMAGE predict` serves the champion and writes a forecast (both images)
#   (g) `docker-compose up -d` with docker-compose.yml (+ a test override) reaches healthy: the
#       scheduler and the HTTP server (`forecast serve`), which lists the model's champion
#   (h) the serving image's default command (`forecast serve`) turns healthy; a promotion during a
#       client loop (4 keep-alive connections) is served by the next requests, with zero failed ones
# Everything it made is removed at the end, on failure too: containers, the compose project,
# the two test tags, the temp folder. The base image and the build cache are kept (`docker rmi
# --no-prune`), so a rerun builds in seconds. Exit status: 0 when every check passed, 1 when one
# failed, 2 when there is no engine or the build fails.
#
#   FORECASTER_TEST_IMAGE=name   tag to build and test (default forecaster-test)
#   KEEP=1                       keep containers, images and the temp folder for a look
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

IMAGE=${FORECASTER_TEST_IMAGE:-forecaster-test}
SERVE=$IMAGE-serve
NAME=docker-test                      # output.name in the test config
SCHED=$IMAGE-sched LONG=$IMAGE-long STATS=$IMAGE-stats HTTP=$IMAGE-http   # container names
PROJECT=${IMAGE//[^a-z0-9]/}          # compose project name
T=$(mktemp -d "${TMPDIR:-/tmp}/forecaster-docker-test.XXXXXX")
M=$T/models/$NAME
failures=0
START=$(date +%s.%N)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
line() { printf '%-5s %-70s %6ss  %s\n' "$1" "$2" "$3" "${4:-}"; }
pass() { line PASS "$@"; }
fail() { line FAIL "$@"; failures=$((failures + 1)); }
info() { printf '      %s\n' "$*"; }
# wait_for SECONDS CMD...: poll CMD every half second; 1 when it never succeeded
wait_for() {
  local limit=$1 t
  shift
  t=$(now)
  until "$@" >/dev/null 2>&1; do
    [[ $(awk -v a="$t" -v b="$(now)" -v l="$limit" 'BEGIN { print (b - a > l) }') == 1 ]] && return 1
    sleep 0.5
  done
}
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }
state() { docker inspect -f "{{$2}}" "$1" 2>/dev/null; }
healthy() { [[ $(state "$1" .State.Health.Status) == healthy ]]; }
exited() { [[ $(state "$1" .State.Running) == false ]]; }
logs_have() { docker logs "$1" 2>&1 | grep -c -- "$2"; }
logs_more() { [[ $(logs_have "$1" "$2") -gt $3 ]]; }
epochs() { json "$M/checkpoint/gru/state.json" 'd["epochs"]' || echo 0; }
epochs_at_least() { [[ $(epochs) -ge $1 ]]; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# served URL: the version `forecast serve` at URL lists for the test model (GET /v1/models)
served() {
  python3 -c 'import json, sys, urllib.request as u
models = json.load(u.urlopen(sys.argv[1] + "/v1/models", timeout=10))["models"]
print(next(m["version"] for m in models if m["name"] == sys.argv[2]))' "$1" "$NAME" 2>/dev/null
}
digest() { (cd "$M" && find "$1" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
stop_check() {  # stop_check LABEL CONTAINER: time `docker stop` (default 10 s timeout); exit code, heartbeat
  local t secs code hb fired=""
  t=$(now)
  docker stop "$2" >/dev/null
  secs=$(since "$t")
  code=$(state "$2" .State.ExitCode)
  docker cp "$2:/tmp/forecaster-heartbeat.json" "$T/heartbeat-$2.json" >/dev/null 2>&1
  hb=$(json "$T/heartbeat-$2.json" 'd["state"]')
  [[ $(logs_have "$2" "still busy") -gt 0 ]] && fired=", the stop watchdog fired"
  if [[ $code == 0 && $hb == stopped ]] && awk -v s="$secs" 'BEGIN { exit !(s < 8) }'; then
    pass "(c) docker stop $1: exit 0, < 8 s" "$secs" "exit code $code, heartbeat $hb$fired"
  else
    fail "(c) docker stop $1: exit 0, < 8 s" "$secs" \
      "exit code $code (137: killed at Docker's 10 s), heartbeat ${hb:-unread}$fired"
  fi
}

if docker-compose version >/dev/null 2>&1; then COMPOSE=(docker-compose)
elif docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose)
else COMPOSE=(); fi
FORECASTER_SERVE_PORT=$(free_port)   # the host port docker-compose.yml publishes the server on
export FORECASTER_SERVE_PORT
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f docker-compose.yml -f "$T/compose.test.yml" "$@"; }

cleanup() {
  local rc=$?
  [[ -n ${KEEP:-} ]] && { info "KEEP=1: left $T, containers $SCHED $LONG $STATS $HTTP, images $IMAGE $SERVE"; exit "$rc"; }
  [[ ${#COMPOSE[@]} -gt 0 && -f $T/compose.test.yml ]] && compose down --remove-orphans >/dev/null 2>&1
  docker rm -f "$SCHED" "$LONG" "$STATS" "$HTTP" >/dev/null 2>&1
  docker rmi --no-prune "$IMAGE" "$SERVE" >/dev/null 2>&1  # the tags; the cached layers stay
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! docker info >/dev/null 2>&1; then
  echo "docker test: no Docker engine (docker info failed); on this kind of machine: bash ../shared/docker/engine.sh"
  exit 2
fi
echo "docker test: $(docker version --format 'engine {{.Server.Version}}'), compose: ${COMPOSE[*]:-none}, work folder $T"

# --- build ------------------------------------------------------------------------------------------
for target in train serve; do
  tag=$IMAGE; [[ $target == serve ]] && tag=$SERVE
  t=$(now)
  if ! docker build --target "$target" -t "$tag" . >"$T/build-$target.log" 2>&1; then
    tail -30 "$T/build-$target.log"
    fail "build $tag" "$(since "$t")"
    exit 2
  fi
  secs=$(since "$t")
  size=$(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')
  pass "build $tag (--target $target)" "$secs" "image size $size"
done

# --- test inputs: a data slice, a fast schedule config, a models volume the image's uid can write -----
mkdir -p "$T/models" "$T/data" "$T/configs" "$T/out"
head -n 1001 data/seattle_temps_2010.csv >"$T/data/series.csv"
cat >"$T/configs/schedule.yaml" <<'EOF'
data: {path: data/series.csv, target: temp, time_col: date, missing: error}
window: {lookback: 24, horizon: 6, val: 0.15, test: 0.15}
model: {cell: gru, units: [8], linear: true}   # one fit: one checkpoint, checkpoint/gru/
training: {epochs: 3, batch_size: 128, patience: 2, seed: 42}
output: {name: docker-test, models_dir: models}
schedule: {cron: "* * * * *", min_new_rows: 0, keep: 3, heartbeat: /tmp/forecaster-heartbeat.json,
           heartbeat_every: 2, stale_after: 60}
EOF
USER_ARGS=()
if [[ $(id -u) == 0 ]]; then
  chown -R 10001:10001 "$T/models" "$T/out"   # the image's user, as the README says
else
  USER_ARGS=(--user "$(id -u):$(id -g)")      # or run as the folder's owner
fi
VOLS=(-v "$T/models:/app/models" -v "$T/data:/app/data:ro" -v "$T/configs:/app/configs:ro")
HEALTH=(--health-interval 5s --health-start-period 90s --health-timeout 20s --health-retries 3)
# a retrain that never ends by itself (no early stop, no stop for want of gain over the linear start:
# without --gain-epochs 0 it ends after 3 epochs, promotes, and the next one starts), starting at once:
# for (c), (d) and (e)
LONG_CMD=(schedule --config configs/schedule.yaml --epochs 10000 --patience 10000 --gain-epochs 0
          --cron '* * * * * *')

# --- (a) (b) the scheduled container ------------------------------------------------------------------
t=$(now)
docker run -d --name "$SCHED" "${USER_ARGS[@]}" "${HEALTH[@]}" "${VOLS[@]}" "$IMAGE" >/dev/null
if wait_for 180 test -f "$M/champion.json"; then
  pass "(a) scheduled retrain promoted a version into the volume" "$(since "$t")" \
    "champion $(json "$M/champion.json" 'd["path"]')"
else
  fail "(a) scheduled retrain promoted a version into the volume" "$(since "$t")" "no $M/champion.json"
  docker logs "$SCHED" 2>&1 | tail -20
fi
if wait_for 120 healthy "$SCHED"; then
  pass "(b) HEALTHCHECK reports healthy" "$(since "$t")" \
    "$(docker exec "$SCHED" forecast health --config configs/schedule.yaml 2>&1 | head -1)"
else
  fail "(b) HEALTHCHECK reports healthy" "$(since "$t")" "status $(state "$SCHED" .State.Health.Status)"
  docker inspect -f '{{json .State.Health.Log}}' "$SCHED" | tail -c 600; echo
fi
info "scheduler state before the stop: $(docker exec "$SCHED" cat /tmp/forecaster-heartbeat.json 2>/dev/null | \
  python3 -c 'import json, sys; print(json.load(sys.stdin).get("state"))' 2>/dev/null)"
stop_check "(scheduled container)" "$SCHED"

# --- (c) (d) (e) a long retrain on the same volume ----------------------------------------------------
if [[ ! -f $M/champion.json ]]; then
  fail "(c)-(g) need a champion from (a)" 0
  exit 1
fi
champion_before=$(cat "$M/champion.json")
champion_dir=$(json "$M/champion.json" 'd["path"]')
digest_before=$(digest "$champion_dir")
# The baselines are fitted before the network, and a fit does not poll the stop event; AutoARIMA
# (opt-in) takes about 9 s here, so a stop during it is bounded by the stop watchdog (5 s) alone.
docker run -d --name "$STATS" "${USER_ARGS[@]}" "${VOLS[@]}" "$IMAGE" "${LONG_CMD[@]}" \
  --baselines naive,seasonal_naive,arima >/dev/null
t=$(now)
if wait_for 120 logs_more "$STATS" '^baseline arima: ' 0; then
  sleep 1
  info "the retrain is fitting AutoARIMA, $(since "$t")s after the container started"
  stop_check "during a statistical fit (no polling)" "$STATS"
else
  fail "(c) docker stop during a statistical fit (no polling)" "$(since "$t")" "the retrain did not start"
  docker logs "$STATS" 2>&1 | tail -10
fi
docker rm -f "$STATS" >/dev/null 2>&1

docker run -d --name "$LONG" "${USER_ARGS[@]}" "${VOLS[@]}" "$IMAGE" "${LONG_CMD[@]}" >/dev/null
t=$(now)
if wait_for 180 epochs_at_least 2; then
  info "the long retrain saved epoch $(epochs) of its checkpoint after $(since "$t")s"
else
  fail "(d) retrain checkpointed 2 epochs" "$(since "$t")" "checkpoint epochs: $(epochs)"
fi

t=$(now)
docker run --rm "${USER_ARGS[@]}" "${VOLS[@]}" "$IMAGE" retrain --config configs/schedule.yaml --quiet \
  >"$T/second.log" 2>&1
code=$?
last=$(tail -n 1 "$M/ledger.jsonl")
if [[ $code == 6 ]] && grep -q "another retrain of $NAME is running" "$T/second.log" \
   && [[ $last == *'"outcome": "skipped"'* && $last == *"another retrain"* ]]; then
  pass "(e) a second container skips its retrain: lock held" "$(since "$t")" "exit 6; ledger: skipped"
else
  fail "(e) a second container skips its retrain: lock held" "$(since "$t")" "exit $code: $(tail -n 2 "$T/second.log")"
  echo "      ledger's last line: $last"
fi

done_before=$(epochs)
resumes=$(logs_have "$LONG" "resuming from the checkpoint")
t=$(now)
docker kill "$LONG" >/dev/null
wait_for 20 exited "$LONG"
killed=$(state "$LONG" .State.ExitCode)
if [[ $(cat "$M/champion.json") == "$champion_before" && $(digest "$champion_dir") == "$digest_before" ]] \
   && [[ -z $(find "$M/versions" -mindepth 1 -maxdepth 1 -name '.*') ]]; then
  pass "(d) docker kill mid-retrain: champion intact" "$(since "$t")" \
    "exit code $killed; champion.json and $champion_dir unchanged, no half-written version"
else
  fail "(d) docker kill mid-retrain: champion intact" "$(since "$t")" "exit code $killed; champion changed"
  echo "      champion.json before: $champion_before"
  echo "      champion.json after:  $(cat "$M/champion.json")"
  echo "      $champion_dir digest $digest_before -> $(digest "$champion_dir"); hidden in versions: $(find "$M/versions" -mindepth 1 -maxdepth 1 -name '.*' | xargs -r -n1 basename)"
fi
docker start "$LONG" >/dev/null
if wait_for 180 logs_more "$LONG" "resuming from the checkpoint" "$resumes" \
   && from=$(docker logs "$LONG" 2>&1 | grep "resuming from the checkpoint" | tail -1 | grep -o '[0-9]*$') \
   && [[ $from -ge $done_before ]] && wait_for 120 epochs_at_least $((from + 1)); then
  pass "(d) docker start resumes the retrain from its checkpoint" "$(since "$t")" \
    "resumed after epoch $from (epoch $done_before seen before the kill), now epoch $(epochs)"
else
  fail "(d) docker start resumes the retrain from its checkpoint" "$(since "$t")" "checkpoint epochs $(epochs)"
  docker logs "$LONG" 2>&1 | tail -10
fi
stop_check "mid-training (polled between batches)" "$LONG"

# --- (f) predict from the images -------------------------------------------------------------------------
t=$(now)
docker run --rm "${USER_ARGS[@]}" -v "$T/models:/app/models:ro" -v "$T/data:/app/data:ro" -v "$T/out:/app/out" \
  "$IMAGE" predict --model "models/$NAME" --output out/forecast.csv >"$T/predict.log" 2>&1
code=$?
rows=$(($(wc -l <"$T/out/forecast.csv" 2>/dev/null || echo 1) - 1))
if [[ $code == 0 && $rows == 6 ]]; then
  pass "(f) predict --model models/$NAME (training image)" "$(since "$t")" "$rows rows in out/forecast.csv"
else
  fail "(f) predict --model models/$NAME (training image)" "$(since "$t")" "exit $code: $(tail -n 2 "$T/predict.log")"
fi
t=$(now)
docker run --rm "${USER_ARGS[@]}" -v "$T/models:/app/models:ro" -v "$T/data:/app/data:ro" \
  "$SERVE" predict --model "models/$NAME/$champion_dir/gru" --format json >"$T/serve.json" 2>"$T/serve.log"
code=$?
if [[ $code == 0 ]] && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/serve.json" 2>/dev/null; then
  pass "(f) predict with the serving image (ONNX)" "$(since "$t")" "champion's gru cell, JSON forecast"
else
  fail "(f) predict with the serving image (ONNX)" "$(since "$t")" "exit $code: $(tail -n 2 "$T/serve.log")"
fi

# --- (g) docker-compose.yml ----------------------------------------------------------------------------
if [[ ${#COMPOSE[@]} == 0 ]]; then
  fail "(g) docker-compose up -d reaches healthy" 0 "neither docker-compose nor docker compose"
else
  {
    echo "services:"
    echo "  forecaster:"
    echo "    image: $IMAGE"
    [[ ${#USER_ARGS[@]} -gt 0 ]] && echo "    user: \"$(id -u):$(id -g)\""
    echo "    volumes: ['$T/models:/app/models', '$T/data:/app/data:ro', '$T/configs:/app/configs:ro']"
    echo "    healthcheck: {interval: 5s, start_period: 90s, timeout: 20s, retries: 3}"
    echo "  serve:"
    echo "    image: $SERVE"
    [[ ${#USER_ARGS[@]} -gt 0 ]] && echo "    user: \"$(id -u):$(id -g)\""
    echo "    volumes: ['$T/models:/app/models:ro', '$T/data:/app/data:ro']"
    echo "    healthcheck: {interval: 2s, start_period: 30s, timeout: 5s, retries: 3}"
  } >"$T/compose.test.yml"
  t=$(now)
  if compose up -d --no-build >"$T/compose.log" 2>&1 && id=$(compose ps -q forecaster) && [[ -n $id ]] \
     && wait_for 120 healthy "$id"; then
    pass "(g) docker-compose up -d reaches healthy" "$(since "$t")" "$(docker inspect -f '{{.Name}}' "$id")"
    t=$(now)
    if sid=$(compose ps -q serve) && [[ -n $sid ]] && wait_for 60 healthy "$sid" \
       && version=$(served "http://127.0.0.1:$FORECASTER_SERVE_PORT") && [[ -n $version ]]; then
      pass "(g) docker-compose's serve: healthy, GET /v1/models" "$(since "$t")" \
        "$NAME version $version on 127.0.0.1:$FORECASTER_SERVE_PORT"
    else
      fail "(g) docker-compose's serve: healthy, GET /v1/models" "$(since "$t")" \
        "health ${sid:+$(state "$sid" .State.Health.Status)}: $(compose logs --tail 3 serve 2>&1 | tail -n 3)"
    fi
    t=$(now)
    compose stop >/dev/null 2>&1
    secs=$(since "$t")
    code=$(state "$id" .State.ExitCode)
    if [[ $code == 0 ]]; then pass "(g) docker-compose stop: exit 0" "$secs" "exit code 0"
    else fail "(g) docker-compose stop: exit 0" "$secs" "exit code $code"; fi
  else
    fail "(g) docker-compose up -d reaches healthy" "$(since "$t")" "$(tail -n 3 "$T/compose.log")"
  fi
fi

# --- (h) forecast serve: a promotion under a client loop --------------------------------------------------
t=$(now)
port=$(free_port)
URL=http://127.0.0.1:$port
docker run -d --name "$HTTP" "${USER_ARGS[@]}" --health-interval 2s --health-start-period 30s -p "127.0.0.1:$port:8080" \
  -v "$T/models:/app/models:ro" -v "$T/data:/app/data:ro" "$SERVE" >/dev/null
if wait_for 60 healthy "$HTTP" && before=$(served "$URL") && [[ -n $before ]]; then
  pass "(h) the serving image's default command: forecast serve, healthy" "$(since "$t")" "$NAME version $before"
  t=$(now)
  new=$(($(ls "$M/versions" | sort -n | tail -n 1) + 1))
  cp -a "$M/versions/$before" "$M/versions/$new"   # the same model as a new version: what matters is the swap
  python3 bench/load_client.py "$URL/v1/models/$NAME/forecast" --body '{}' -c 4 --count 1000000 --seconds 10 \
    >"$T/loop.log" 2>&1 &
  loop=$!
  sleep 3
  docker run --rm "${USER_ARGS[@]}" -v "$T/models:/app/models" "$IMAGE" models promote --name "$NAME" \
    --version "$new" --models-dir models >"$T/promote.log" 2>&1
  promoted=$?
  wait "$loop"
  looped=$?
  after=$(served "$URL")
  answer=$(python3 -c 'import json, sys, urllib.request as u
r = u.Request(sys.argv[1], data=b"{}", headers={"Content-Type": "application/json"})
print(json.load(u.urlopen(r, timeout=30))["version"])' "$URL/v1/models/$NAME/forecast" 2>&1 | tail -n 1)
  if [[ $promoted == 0 && $looped == 0 && $after == "$new" && $answer == "$new" ]]; then
    pass "(h) a promotion under a client loop: zero failed, new version served" "$(since "$t")" \
      "version $before -> $after; $(cat "$T/loop.log")"
  else
    fail "(h) a promotion under a client loop: zero failed, new version served" "$(since "$t")" \
      "promote exit $promoted ($(tail -n 1 "$T/promote.log")), loop: $(tail -n 1 "$T/loop.log"), served $after, answer $answer"
  fi
else
  fail "(h) the serving image's default command: forecast serve, healthy" "$(since "$t")" \
    "status $(state "$HTTP" .State.Health.Status): $(docker logs "$HTTP" 2>&1 | tail -n 3)"
fi
docker rm -f "$HTTP" >/dev/null 2>&1

total=$(since "$START")
if awk -v s="$total" 'BEGIN { exit !(s < 600) }'; then pass "docker test under 10 minutes" "$total"
else fail "docker test under 10 minutes" "$total"; fi
if [[ $failures -gt 0 ]]; then
  echo "docker test: $failures check(s) FAILED"
  exit 1
fi
echo "docker test: all checks passed"
