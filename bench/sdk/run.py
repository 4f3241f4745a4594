"""Benchmark: the browser SDKs' weight and start-up time.

Prints the gzipped sizes of core.js and widget.js as the server sends them
(goals: <= 20 KB and <= 60 KB), and the time from the script tag starting to
load to the ``start`` callback (widget.js) and the ``init`` callback (core.js) in
headless Chromium on localhost, median of 10 fresh page loads (goal <= 300 ms).

    python bench/sdk/run.py [--runs 10]

Needs Debian's chromium (/usr/bin/chromium) and a Klatch checkout's venv.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support import KlatchProcess, PageServer, prepare  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGE = """<!doctype html><html><body><script>
window.t0 = performance.now();
window.addEventListener('{loaded}', () => {{
  {call}() => {{ window.ready = performance.now() - window.t0; }});
}});
</script><script src="{server}/chat-web/{script}" data-kustomer-api-key="{key}"></script>
</body></html>"""


def sizes(server: str, name: str) -> tuple[int, int]:
    """(bytes on the wire with gzip, bytes of the script) as the server sends it."""
    with httpx.stream(
        "GET", f"{server}/chat-web/{name}", headers={"Accept-Encoding": "gzip"}
    ) as response:
        response.raise_for_status()
        wire = b"".join(response.iter_raw())
    if response.headers.get("content-encoding") != "gzip":
        raise RuntimeError(f"{name} was not sent gzipped")
    return len(wire), len(gzip.decompress(wire))


async def startup_times(server: str, key: str, script: str, runs: int) -> list[float]:
    from playwright.async_api import async_playwright

    loaded, call = (
        ("kustomerLoaded", "Kustomer.start({}, ")
        if script == "widget.js"
        else ("kustomerCoreLoaded", "KustomerCore.init({}, ")
    )
    site = PageServer()
    site.pages["/page.html"] = PAGE.format(
        loaded=loaded, call=call, server=server, script=script, key=key
    )
    times = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for _ in range(runs):
                context = await browser.new_context()  # fresh: no cache, no stored session
                page = await context.new_page()
                await page.goto(site.url("/page.html"))
                await page.wait_for_function("window.ready !== undefined", timeout=10_000)
                times.append(float(await page.evaluate("window.ready")))
                await context.close()
            await browser.close()
    finally:
        site.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="klatch-bench-sdk-") as tmp:
        env, keys = prepare(Path(tmp))
        with KlatchProcess(env, Path(tmp), Path(tmp) / "server.log") as server:
            print(f"{'':34} {'gzipped':>10} {'raw':>10}   goal")
            for name, goal in (("core.js", 20), ("widget.js", 60)):
                try:
                    packed, raw = sizes(server.url, name)
                except httpx.HTTPStatusError:
                    print(f"{name:34} {'missing':>10}")
                    continue
                verdict = "OK" if packed <= goal * 1000 else "OVER"
                print(
                    f"{name:34} {packed / 1000:>8.1f}KB {raw / 1000:>8.1f}KB   <= {goal} KB  "
                    f"{verdict}"
                )
            print()
            print(f"{'script load -> callback':34} {'median':>10} {'max':>10}   goal")
            for name, what in (("core.js", "init"), ("widget.js", "start")):
                try:
                    times = asyncio.run(
                        startup_times(server.url, keys["trackingKey"], name, opts.runs)
                    )
                except Exception as exc:  # report and go on with the other script
                    print(f"{name + ' ' + what:34} failed: {exc}")
                    continue
                median = statistics.median(times)
                verdict = "OK" if median <= 300 else "OVER"
                print(
                    f"{name + ' ' + what + f' ({len(times)} loads)':34} {median:>8.0f}ms "
                    f"{max(times):>8.0f}ms   <= 300 ms  {verdict}"
                )


if __name__ == "__main__":
    main()
