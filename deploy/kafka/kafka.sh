#!/usr/bin/env bash
# A real Apache Kafka broker for Ringside's tests, benchmarks and local use:
# single node, KRaft mode, loopback only, small heap.  Idempotent.
#
#   deploy/kafka/kafka.sh start     fetch the broker if needed, format, start, wait until ready
#   deploy/kafka/kafka.sh stop      SIGTERM, then SIGKILL after 60 s
#   deploy/kafka/kafka.sh kill      SIGKILL at once (what the fault tests do)
#   deploy/kafka/kafka.sh status    "running pid=... port=... owner=..." (exit 0) or "stopped" (exit 3)
#   deploy/kafka/kafka.sh fetch     only fetch the jars into the cache
#   deploy/kafka/kafka.sh classpath fetch if needed, print the broker's Java class path
#   deploy/kafka/kafka.sh reset     stop, then delete the instance's data
#
# Settings, from the environment:
#   RINGSIDE_KAFKA_NAME        instance name (default: default); each has its own
#                              directory, data and ports
#   RINGSIDE_KAFKA_PORT        PLAINTEXT port (default 9092); the controller listens
#                              on PORT+1, the SASL_SSL listener (if any) on PORT+2
#   RINGSIDE_KAFKA_HEAP        JVM heap (default 512m): 2 cores and the tests share the machine
#   RINGSIDE_KAFKA_HOME        where instances live (default /var/lib/ringside-kafka)
#   RINGSIDE_KAFKA_CACHE       where the jars are cached (default /var/cache/ringside-kafka)
#   RINGSIDE_KAFKA_TLS_DIR     a directory with broker-key.pem (PKCS#8, unencrypted) and
#                              broker-cert.pem: adds a SASL_SSL listener with SCRAM-SHA-256
#                              and SCRAM-SHA-512
#   RINGSIDE_KAFKA_SCRAM_USERS "user:password,..." SCRAM credentials, created when the
#                              instance is formatted (its first start)
#   RINGSIDE_KAFKA_OWNER       who starts it (recorded; the test fixture stops only a broker
#                              that tests started)
#
# Messages go to stderr; `status` prints its one line on stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=3.9.1
name=${RINGSIDE_KAFKA_NAME:-default}
port=${RINGSIDE_KAFKA_PORT:-9092}
heap=${RINGSIDE_KAFKA_HEAP:-512m}
home=${RINGSIDE_KAFKA_HOME:-/var/lib/ringside-kafka}
cache=${RINGSIDE_KAFKA_CACHE:-/var/cache/ringside-kafka}
tls_dir=${RINGSIDE_KAFKA_TLS_DIR:-}
scram_users=${RINGSIDE_KAFKA_SCRAM_USERS:-}
owner=${RINGSIDE_KAFKA_OWNER:-manual}

libs="$cache/kafka-$version/libs"
dir="$home/$name"
data="$dir/data"
pidfile="$dir/kafka.pid"
logfile="$dir/kafka.log"
props="$dir/server.properties"

say() { echo "kafka[$name]: $*" >&2; }
die() { say "$*"; exit 1; }

case "$name" in
    *[!A-Za-z0-9_.-]* | "") die "RINGSIDE_KAFKA_NAME must be letters, digits, '.', '_' or '-'" ;;
esac
case "$port" in
    *[!0-9]* | "") die "RINGSIDE_KAFKA_PORT must be a number" ;;
esac

# The pid of this instance's broker, if one runs; the command line is checked
# so that a reused pid is not taken for the broker.
running_pid() {
    [ -f "$pidfile" ] || return 1
    local pid
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $props" || return 1
    echo "$pid"
}

fetch() {
    [ -f "$libs/.complete" ] && return 0
    command -v java >/dev/null || die "java is not installed (Debian: openjdk-17-jre-headless)"
    command -v mvn >/dev/null || die "mvn is not installed (Debian: maven)"
    mkdir -p "$cache"
    # Two starts at once (two test sessions) must not download into one directory together.
    exec 8>"$cache/.fetch.lock"
    flock 8
    if [ ! -f "$libs/.complete" ]; then
        say "fetching Apache Kafka $version from Maven Central into $libs"
        rm -rf "$libs"
        mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
            -DoutputDirectory="$libs" -Dmaven.repo.local="$cache/m2" >&2 \
            || die "mvn could not fetch org.apache.kafka:kafka_2.13:$version"
        touch "$libs/.complete"
    fi
    flock -u 8
}

# An array, not a string: the class path "$libs/*" is for java to expand, not the shell.
java_cmd=(java "-Xmx$heap" "-Xms$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true "-Dlog4j.configuration=file:$here/log4j.properties" -cp "$libs/*")

write_props() {
    local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))"
    local advertised="PLAINTEXT://127.0.0.1:$port"
    local map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [ -n "$tls_dir" ]; then
        [ -r "$tls_dir/broker-key.pem" ] && [ -r "$tls_dir/broker-cert.pem" ] \
            || die "RINGSIDE_KAFKA_TLS_DIR=$tls_dir lacks broker-key.pem or broker-cert.pem"
        listeners="$listeners,SASL_SSL://127.0.0.1:$((port + 2))"
        advertised="$advertised,SASL_SSL://127.0.0.1:$((port + 2))"
        map="$map,SASL_SSL:SASL_SSL"
    fi
    sed -e "s|@CONTROLLER_PORT@|$((port + 1))|" -e "s|@LISTENERS@|$listeners|" \
        -e "s|@ADVERTISED@|$advertised|" -e "s|@PROTOCOL_MAP@|$map|" \
        -e "s|@DATA_DIR@|$data|" "$here/server.properties.in" >"$props.tmp"
    if [ -n "$tls_dir" ]; then
        # Kafka reads PEM directly (no JKS): one file with the private key and
        # the certificate chain is the broker's keystore.
        cat "$tls_dir/broker-key.pem" "$tls_dir/broker-cert.pem" >"$dir/keystore.pem"
        chmod 600 "$dir/keystore.pem"
        cat >>"$props.tmp" <<EOF

# SASL_SSL listener: TLS with the certificate from $tls_dir, SCRAM users.
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$dir/keystore.pem
EOF
    fi
    mv "$props.tmp" "$props"
}

format() {
    [ -f "$data/meta.properties" ] && {
        [ -z "$scram_users" ] || say "already formatted: RINGSIDE_KAFKA_SCRAM_USERS only apply to a new instance (reset first)"
        return 0
    }
    local args=() user pass entry
    if [ -n "$scram_users" ]; then
        IFS=',' read -r -a entries <<<"$scram_users"
        for entry in "${entries[@]}"; do
            user=${entry%%:*}
            pass=${entry#*:}
            args+=(--add-scram "SCRAM-SHA-256=[name=$user,password=$pass]")
            args+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$pass]")
        done
    fi
    local id
    id=$("${java_cmd[@]}" kafka.tools.StorageTool random-uuid)
    say "formatting $data (cluster $id)"
    "${java_cmd[@]}" kafka.tools.StorageTool format -t "$id" -c "$props" "${args[@]}" >&2 \
        || die "formatting the storage failed"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    fetch
    mkdir -p "$dir"
    exec 9>"$dir/.lock"
    flock 9
    local pid
    if pid=$(running_pid); then
        say "already running (pid $pid) on 127.0.0.1:$port"
        return 0
    fi
    for p in "$port" "$((port + 1))"; do
        port_in_use "$p" && die "port $p is taken by another program (set RINGSIDE_KAFKA_PORT)"
    done
    write_props
    format
    local from
    touch "$logfile"
    from=$(stat -c %s "$logfile")
    # setsid: the broker outlives this script and is not killed with the
    # caller's process group (a test runner's Ctrl-C stops it through `stop`).
    # The lock descriptors are closed for it: a broker holding the lock would
    # make every later start or stop wait for the broker to exit.
    setsid "${java_cmd[@]}" kafka.Kafka "$props" >>"$logfile" 2>&1 </dev/null 8>&- 9>&- &
    pid=$!
    echo "$pid" >"$pidfile"
    echo "$owner" >"$dir/owner"
    say "starting (pid $pid, heap $heap) on 127.0.0.1:$port; log in $logfile"
    local deadline=$((SECONDS + 180))
    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -c +"$((from + 1))" "$logfile" | tail -n 20 >&2
            die "the broker exited while starting (log above)"
        fi
        if tail -c +"$((from + 1))" "$logfile" | grep -q "Transition from STARTING to STARTED" \
            && port_in_use "$port"; then
            say "ready after $((SECONDS - deadline + 180)) s"
            return 0
        fi
        sleep 0.5
    done
    die "not ready after 180 s; see $logfile"
}

stop_with() {
    local signal=$1 wait_s=$2 pid
    mkdir -p "$dir"
    exec 9>"$dir/.lock"
    flock 9
    if ! pid=$(running_pid); then
        say "not running"
        rm -f "$pidfile"
        return 0
    fi
    kill "-$signal" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + wait_s))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        say "still running $wait_s s after SIG$signal: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
    rm -f "$pidfile"
    say "stopped (SIG$signal)"
}

status() {
    local pid
    if pid=$(running_pid); then
        echo "running pid=$pid port=$port owner=$(cat "$dir/owner" 2>/dev/null || echo unknown)"
        return 0
    fi
    echo "stopped"
    return 3
}

case "${1:-}" in
    start) start ;;
    stop) stop_with TERM 60 ;;
    kill) stop_with KILL 10 ;;
    status) status ;;
    fetch) fetch ;;
    classpath) fetch; echo "$libs/*" ;;
    reset) stop_with TERM 60; rm -rf "$data" "$props"; say "data deleted" ;;
    *) echo "usage: $0 start|stop|kill|status|fetch|classpath|reset" >&2; exit 2 ;;
esac
