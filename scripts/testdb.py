"""Create or drop a throw-away PostgreSQL database, or check Redis, for scripts/test.sh.

    python scripts/testdb.py create postgresql://postgres@127.0.0.1:5432/postgres NAME
    python scripts/testdb.py drop   postgresql://postgres@127.0.0.1:5432/postgres NAME
    python scripts/testdb.py redis  redis://127.0.0.1:6379/0

Exits non-zero (quietly) when the server does not answer.
"""

from __future__ import annotations

import asyncio
import re
import sys


async def postgres(action: str, server: str, name: str) -> None:
    import asyncpg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"bad database name {name!r}")
    conn = await asyncpg.connect(server, timeout=3)
    try:
        if action == "create":
            await conn.execute(f"CREATE DATABASE {name}")
        else:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


def redis(url: str) -> None:
    import redis as redis_py

    redis_py.Redis.from_url(url, socket_connect_timeout=2).ping()


def main() -> None:
    action = sys.argv[1]
    try:
        if action == "redis":
            redis(sys.argv[2])
        else:
            asyncio.run(postgres(action, sys.argv[2], sys.argv[3]))
    except Exception as exc:  # any failure means "not available"
        print(f"{action}: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
