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

ensure_venv() {  # ensure_venv [extras]
  local extras="${1:-}" stamp want
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment in .venv"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip wheel 2>&1 | quiet_pip
  fi
  want="$(cat "$ROOT/setup.cfg" "$ROOT/constraints.txt" 2>/dev/null | sha256sum | cut -c1-16)-${extras}"
  stamp="$VENV/.appliance-installed"
  if [ ! -f "$stamp" ] || ! grep -qx -- "$want" "$stamp"; then
    say "installing the appliance${extras:+ with [$extras]} into .venv"
    "$VENV/bin/pip" install -q -c "$ROOT/constraints.txt" -e "$ROOT${extras:+[$extras]}" 2>&1 | quiet_pip
    "$VENV/bin/python" -c 'import appliance, webapp, sqlcipher3' >/dev/null
    echo "$want" >"$stamp"
  fi
}

compile_translations() {
  # -q is a global pybabel option: it goes before the sub-command.
  "$VENV/bin/pybabel" -q compile -d "$ROOT/webapp/translations" 2>/dev/null \
    || "$VENV/bin/python" -m babel.messages.frontend -q compile -d "$ROOT/webapp/translations"
}
