# Shared by scripts/run and scripts/test: a local venv kept in step with setup.cfg.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

say() { printf '==> %s\n' "$*" >&2; }

ensure_venv() {  # ensure_venv [extras]
  local extras="${1:-}" stamp want
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment in .venv"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip wheel >/dev/null
  fi
  want="$(cat "$ROOT/setup.cfg" "$ROOT/constraints.txt" 2>/dev/null | sha256sum | cut -c1-16)-${extras}"
  stamp="$VENV/.appliance-installed"
  if [ ! -f "$stamp" ] || ! grep -qx -- "$want" "$stamp"; then
    say "installing the appliance${extras:+ with [$extras]} into .venv"
    "$VENV/bin/pip" install -q -c "$ROOT/constraints.txt" -e "$ROOT${extras:+[$extras]}" 2>&1 \
      | grep -v -e '^WARNING: Location' -e 'is ignored' >&2 || true
    "$VENV/bin/python" -c 'import appliance, webapp, sqlcipher3' >/dev/null
    echo "$want" >"$stamp"
  fi
}

compile_translations() {
  "$VENV/bin/pybabel" compile -q -d "$ROOT/webapp/translations" 2>/dev/null \
    || "$VENV/bin/python" -m babel.messages.frontend compile -q -d "$ROOT/webapp/translations"
}
