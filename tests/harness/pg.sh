# Throwaway PostgreSQL for tests and the demo. Source it, then:
#   ll_pg_init DIR PORT    create a cluster in DIR (role lablink, db lablink_db)
#   ll_pg_start DIR PORT   start it (listening on 127.0.0.1:PORT, socket in DIR)
#   ll_pg_stop DIR [MODE]  stop it (MODE: fast | immediate)
#   ll_pg_running DIR      true when it runs
# initdb and postgres refuse to run as root: as root they run as `postgres`.

LL_PGBIN=${LL_PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

ll_pg_as() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ll_pg_init() {
    local dir=$1 port=$2
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    ll_pg_as "$LL_PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8 --no-sync --no-instructions >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        return 1
    }
    ll_pg_start "$dir" "$port" || return 1
    ll_pg_as "$LL_PGBIN/psql" -q -h "$dir" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE lablink LOGIN PASSWORD 'lablink'" \
        -c "CREATE DATABASE lablink_db OWNER lablink" >/dev/null
}

ll_pg_start() {
    local dir=$1 port=$2
    ll_pg_as "$LL_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${LL_PG_FSYNC:-off} -c max_connections=200" \
        start >/dev/null
}

ll_pg_stop() {
    local dir=$1 mode=${2:-fast}
    ll_pg_as "$LL_PGBIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 30 stop >/dev/null 2>&1 || true
}

ll_pg_running() {
    ll_pg_as "$LL_PGBIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

# A free TCP port on 127.0.0.1 (best effort: callers retry on a clash).
ll_free_port() {
    local p
    for _ in $(seq 1 50); do
        # below the kernel's ephemeral range (32768-60999), where outgoing
        # connections would race us for the port
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
