#!/usr/bin/env bash
# Install what the tests need and run the whole suite: lint, types, tests.
#
# PostgreSQL and Redis: the tests read KLATCH_TEST_POSTGRES_URL and
# KLATCH_TEST_REDIS_URL. When unset, this script uses the local servers if they
# answer (a fresh database is created for the run and dropped after it);
# otherwise those tests skip with a reason, or fail when KLATCH_REQUIRE_SERVICES=1
# (as in CI). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv
pip_install -e '.[test]'

if ! command -v chromium >/dev/null; then
  apt_install chromium chromium-driver \
    || echo "warning: chromium could not be installed; browser tests will not run" >&2
fi
# npm fetches the tests' TypeScript and axe-core (pinned in tests/npm_tools.py).
if ! command -v npm >/dev/null; then
  apt_install npm \
    || echo "warning: npm could not be installed; TypeScript and axe-core tests will not run" >&2
fi
# nginx for the reverse-proxy test (tests/ops/test_proxy.py), Debian's package; it
# lives in /usr/sbin. The package starts the default site on port 80: the tests run
# their own nginx, so that one is stopped again.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if apt_install nginx openssl; then
    as_root /usr/sbin/nginx -s quit 2>/dev/null || true
  else
    echo "warning: nginx could not be installed; the reverse-proxy test will not run" >&2
  fi
fi

PG_SERVER="${KLATCH_TEST_POSTGRES_SERVER:-postgresql://postgres@127.0.0.1:5432/postgres}"
created_db=""
if [ -z "${KLATCH_TEST_POSTGRES_URL:-}" ]; then
  name="klatch_test_$(date +%s)_$$"
  if .venv/bin/python scripts/testdb.py create "$PG_SERVER" "$name"; then
    created_db="$name"
    export KLATCH_TEST_POSTGRES_URL="${PG_SERVER%/*}/$name"
    trap '.venv/bin/python scripts/testdb.py drop "$PG_SERVER" "$created_db" || true' EXIT
  fi
fi
if [ -z "${KLATCH_TEST_REDIS_URL:-}" ] && .venv/bin/python scripts/testdb.py redis \
    redis://127.0.0.1:6379/0; then
  export KLATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/0
fi
echo "PostgreSQL: ${KLATCH_TEST_POSTGRES_URL:-not available}  Redis: ${KLATCH_TEST_REDIS_URL:-not available}  require services: ${KLATCH_REQUIRE_SERVICES:-0}"

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy

# Two workers by default (KLATCH_TEST_WORKERS=0 runs in this process); a test
# module stays on one worker, as its fixtures are module-scoped.
workers="${KLATCH_TEST_WORKERS:-2}"
xdist=()
if [ "$workers" != 0 ]; then
  xdist=(-n "$workers" --dist loadfile)
fi

set +e
.venv/bin/pytest "${xdist[@]}" "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
