# Shared by scripts/demo.sh and scripts/test.sh: a local virtual environment and
# system packages, installed only when missing.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@";
  elif command -v sudo >/dev/null; then sudo "$@";
  else echo "error: '$*' needs root; run it as root or install sudo" >&2; return 1; fi
}

apt_install() {
  echo "Installing Debian packages: $*" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
    || { as_root apt-get update -q >/dev/null &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

ensure_venv() {
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Klatch needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
  fi
  if [ ! -x .venv/bin/python ]; then
    # Debian ships venv's pip bootstrap separately (python3-venv).
    "$python" -m venv .venv 2>/dev/null || {
      rm -rf .venv
      apt_install python3-venv
      "$python" -m venv .venv
    }
  fi
  pip_install --upgrade pip || true
}

pip_install() {
  # pip warns about unreachable extra indexes on some machines; show everything else.
  local status=0
  .venv/bin/python -m pip install -q "$@" 2> >(grep -v '^WARNING: Location' >&2) || status=$?
  return "$status"
}
