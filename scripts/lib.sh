# Shared by scripts/run and scripts/test: a local venv kept in step with setup.cfg.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

say() { printf '==> %s\n' "$*" >&2; }

# pip's real errors pass through; setuptools' build chatter and index-location notices do not.
quiet_pip() {
  grep -v -e '^WARNING: Location' -e 'is ignored' -e 'BuildBackendWarning' -e '^ *!!' -e '^ *\*\*\*' \
    -e 'Please be careful with folders' -e 'name as your package' -e 'with strategy, WheelFile' -e '^ *$' >&2 || true
}

# The stamp records the hash of setup.cfg + constraints.txt and the extras installed with it.
# An install that already has every extra asked for is kept: `./scripts/run` (no extras) after
# `./scripts/test` (test,deploy) installs nothing, and `./scripts/test` after `./scripts/run`
# adds its extras once. A changed setup.cfg or constraints.txt installs again, with the union.
ensure_venv() {  # ensure_venv [extras, comma-separated]
  local wanted="${1:-}" stamp hash word have_hash="" have_extras="" extras missing=0 extra
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment in .venv"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip wheel 2>&1 | quiet_pip
  fi
  hash="$(cat "$ROOT/setup.cfg" "$ROOT/constraints.txt" 2>/dev/null | sha256sum | cut -c1-16)"
  stamp="$VENV/.appliance-installed"
  if [ -f "$stamp" ]; then
    read -r word have_extras <"$stamp" || true
    have_hash="${word%%-*}"
    [ "$word" = "$have_hash" ] || have_extras="${word#*-}"  # the older stamp: HASH-EXTRAS, one word
  fi
  [ "$have_hash" = "$hash" ] || have_extras=""
  extras="$(printf '%s\n' ${have_extras//,/ } ${wanted//,/ } | sort -u | paste -sd, -)"
  for extra in ${wanted//,/ }; do
    case ",$have_extras," in *",$extra,"*) ;; *) missing=1 ;; esac
  done
  if [ "$have_hash" != "$hash" ] || [ "$missing" = 1 ]; then
    say "installing the appliance${extras:+ with [$extras]} into .venv"
    "$VENV/bin/pip" install -q -c "$ROOT/constraints.txt" -e "$ROOT${extras:+[$extras]}" 2>&1 | quiet_pip
    "$VENV/bin/python" -c 'import appliance, webapp, sqlcipher3' >/dev/null
    echo "$hash $extras" >"$stamp"
  fi
}

# The functional tests need a PostgreSQL server (APPLIANCE_TEST_PG, default 127.0.0.1:5432,
# trust auth). When none answers there, start a private one for this run, as the backup tests
# do (tests/functional/pgcluster.py): initdb in a temporary directory, as the postgres system
# user when run as root (PostgreSQL refuses to run as root), on a free port; stopped and
# removed when the script exits. APPLIANCE_TEST_PG then points the suite at it.
ensure_postgres() {
  local url="${APPLIANCE_TEST_PG:-postgresql://postgres@127.0.0.1:5432/postgres}" bin root port run=()
  if "$VENV/bin/python" -c 'import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).close()' "$url" \
      >/dev/null 2>&1; then
    return 0
  fi
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    say "no PostgreSQL answers at ${url%%/postgres} and the server package (initdb) is missing: the PostgreSQL tests will fail"
    return 0
  fi
  root="$(mktemp -d /tmp/appliance-test-pg.XXXXXX)"
  chmod 0755 "$root"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$root"
    run=(runuser -u postgres --)
  fi
  port="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  say "no PostgreSQL answers at ${url%%/postgres}: starting a private one for this run on 127.0.0.1:$port"
  (cd / && "${run[@]}" "$bin/initdb" -D "$root/data" -U postgres --auth=trust -N -E UTF8 --locale=C >/dev/null)
  printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 200\n" \
    "$port" "$root/data" >>"$root/data/postgresql.conf"
  (cd / && "${run[@]}" "$bin/pg_ctl" -D "$root/data" -l "$root/server.log" -w start >/dev/null)
  PRIVATE_PG="$root"
  PRIVATE_PG_CTL=("${run[@]}" "$bin/pg_ctl")
  trap stop_private_postgres EXIT
  export APPLIANCE_TEST_PG="postgresql://postgres@127.0.0.1:$port/postgres"
}

stop_private_postgres() {
  if [ -n "${PRIVATE_PG:-}" ]; then
    (cd / && "${PRIVATE_PG_CTL[@]}" -D "$PRIVATE_PG/data" -m immediate -w stop >/dev/null 2>&1) || true
    rm -rf "$PRIVATE_PG"
  fi
}

compile_translations() {
  # -q is a global pybabel option: it goes before the sub-command.
  "$VENV/bin/pybabel" -q compile -d "$ROOT/webapp/translations" 2>/dev/null \
    || "$VENV/bin/python" -m babel.messages.frontend -q compile -d "$ROOT/webapp/translations"
}
