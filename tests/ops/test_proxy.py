"""The nginx configuration in ``deploy/nginx/`` in front of two ``klatch serve``
replicas on PostgreSQL and Redis, as an operator runs it: Debian's nginx as a
process of its own (its own prefix dir, free ports, TLS with a certificate made
here), the two snippets included as they are, and the widget -> console -> widget
flow in Chromium through it (HTTPS, the console's Secure cookie, both WebSocket
endpoints upgraded through the proxy, events crossing replicas over Redis).
Then a replica goes away and the other answers; then both, and the SDK files
still come from nginx's cache."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from support import (
    POSTGRES_URL,
    REDIS_URL,
    KlatchProcess,
    PageServer,
    cli,
    eventually,
    free_port,
    fresh_postgres_database,
    need_service,
    prepare,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "nginx"
REALTIME_TIMEOUT = 15_000  # ms
PASSWORD = "secret-pass-1"
AGENT_EMAIL = "bob@example.com"
AGENT_NAME = "Bob Agent"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        need_service("nginx", None, "PATH (Debian: apt-get install nginx; scripts/test.sh does)")
    assert found is not None
    return found


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, valid for a day."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def nginx_conf(prefix: Path, port: int, replicas: list[int], cert: Path, key: Path) -> str:
    """What an operator's nginx.conf and site file hold (``klatch-site.conf``), with
    this test's ports and paths; the two snippets are deploy/'s own files."""
    temp = {name: prefix / "temp" / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in replicas
    )
    # Debian's nginx runs its workers as www-data; this one reads the test's files.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format upstreams '$request_method $uri $status $upstream_addr';
    access_log {prefix}/access.log upstreams;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    upstream klatch {{
{servers}
        keepalive 8;
    }}
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=klatch_static:1m max_size=16m
                     inactive=1h use_temp_path=off;
    include {DEPLOY}/klatch-http.conf;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        include {DEPLOY}/klatch-proxy.conf;
    }}
}}
"""


class Nginx:
    """nginx in the foreground (``daemon off``) with a prefix dir of its own."""

    def __init__(self, prefix: Path, replicas: list[int]) -> None:
        self.prefix = prefix
        self.port = free_port()
        prefix.mkdir(parents=True, exist_ok=True)
        cert, key = self_signed_certificate(prefix)
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(nginx_conf(prefix, self.port, replicas, cert, key))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def _command(self, *extra: str) -> list[str]:
        return [nginx_binary(), "-p", str(self.prefix), "-c", str(self.conf), *extra]

    def start(self) -> None:
        checked = subprocess.run(self._command("-t"), capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        with (self.prefix / "stderr.log").open("ab") as stderr:
            self.process = subprocess.Popen(
                self._command("-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"nginx exited ({self.process.returncode}):\n{self.errors}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"nginx did not listen on {self.port}:\n{self.errors}")
                time.sleep(0.05)

    @property
    def errors(self) -> str:
        logs = [self.prefix / "stderr.log", self.prefix / "error.log"]
        return "\n".join(p.read_text()[-3000:] for p in logs if p.exists())

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@dataclass
class Deployment:
    nginx: Nginx
    replicas: list[KlatchProcess]
    keys: dict[str, str]

    def rest(self) -> httpx.Client:
        """The REST API through the proxy, with the admin key."""
        return httpx.Client(
            base_url=self.nginx.url,
            headers={"Authorization": f"Bearer {self.keys['adminKey']}"},
            verify=False,  # the test's own self-signed certificate
            timeout=10,
        )


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    postgres = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
    redis = need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")
    with fresh_postgres_database(postgres, "proxy") as database_url:
        # The settings every replica shares: one database, one bus, one secret key.
        env, keys = prepare(
            tmp_path,
            KLATCH_DATABASE_URL=database_url,
            KLATCH_BUS_URL=redis,
            KLATCH_SECRET_KEY="replicas-share-this-secret-" + "x" * 20,
            KLATCH_TRUSTED_PROXIES="127.0.0.1",
            KLATCH_RATE_LIMIT_REST="0",
        )
        cli(env, tmp_path, "users", "create", AGENT_EMAIL, "--password", PASSWORD,
            "--name", AGENT_NAME)  # fmt: skip
        replicas = [KlatchProcess(env, tmp_path, tmp_path / f"replica-{n}.log") for n in (1, 2)]
        nginx = Nginx(tmp_path / "nginx", [r.port for r in replicas])
        try:
            for replica in replicas:
                replica.start()
            nginx.start()
            yield Deployment(nginx, replicas, keys)
        finally:
            nginx.stop()
            for n, replica in enumerate(replicas, start=1):
                replica.stop()
                print(f"---- replica {n} log (tail) ----\n" + replica.output[-2000:])
            print("---- nginx ----\n" + nginx.errors[-2000:])


def shop_page(deployment: Deployment, order: str) -> str:
    """The shop's own site (plain HTTP, another origin) with Kustomer's snippet,
    loading the widget from Klatch's public HTTPS address: the proxy."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<link rel="icon" href="data:,"></head>
<body><h1>Corner Shop</h1>
<script>
  window.addEventListener('kustomerLoaded', function () {{
    Kustomer.addListener('onConversationCreate', function (conversation) {{
      Kustomer.describeConversation({{
        conversationId: conversation.conversationId,
        customAttributes: {{orderNumberStr: {json.dumps(order)}}}
      }}, function (response, error) {{
        window.described = error ? {{error: error.code || String(error)}} : response;
      }});
    }});
    Kustomer.start({{}}, function (response, error) {{
      window.started = error ? 'failed: ' + (error.code || error) : true;
    }});
  }});
</script>
<script src="{deployment.nginx.url}/chat-web/widget.js"
        data-kustomer-api-key="{deployment.keys["trackingKey"]}"></script>
</body></html>"""


class Pages:
    """Fresh browser contexts that accept the test's certificate; closed at the end."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def new(self) -> Page:
        context = await self.browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 800}
        )
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(REALTIME_TIMEOUT)
        page.on("console", lambda m: print("console:", m.type, m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        self.contexts.clear()


@pytest.fixture
async def pages(browser: Browser) -> AsyncIterator[Pages]:
    opened = Pages(browser)
    yield opened
    await opened.close()
    assert not opened.errors, f"uncaught errors on a page: {opened.errors}"


async def log_in(page: Page, deployment: Deployment) -> None:
    await page.goto(f"{deployment.nginx.url}/console/inbox")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await page.get_by_label("Email").fill(AGENT_EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{deployment.nginx.url}/console/inbox")
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()


async def test_a_chat_goes_from_widget_to_console_and_back_through_nginx(
    deployment: Deployment, pages: Pages, artifacts_dir: Path
) -> None:
    order = f"A-{int(time.time())}"
    console = await pages.new()
    await log_in(console, deployment)
    # The replicas saw HTTPS through X-Forwarded-Proto from a trusted proxy: the
    # session cookie is Secure (no KLATCH_PUBLIC_URL says so).
    cookies = await console.context.cookies()
    assert cookies and all(c["secure"] for c in cookies), cookies

    site = PageServer()
    try:
        site.pages["/shop.html"] = shop_page(deployment, order)
        shop = await pages.new()
        await shop.goto(site.url("/shop.html"))
        await shop.wait_for_function("window.started !== undefined", timeout=20_000)
        assert await shop.evaluate("window.started") is True
        widget = shop.frame_locator("#kustomer-ui-sdk-iframe")
        await widget.get_by_role("button", name="Open chat", exact=True).click()
        composer = widget.get_by_label("Message", exact=True)
        await expect(composer).to_be_enabled()
        await composer.fill("Where is my teapot?")
        await composer.press("Enter")
        handle = await shop.wait_for_function("window.described")
        described = await handle.json_value()
        assert "error" not in described, described
        conversation_id = described["conversationId"]

        # Live in the inbox, over the console's socket through the proxy.
        row = console.locator(f'#inbox-rows tr[data-conversation-id="{conversation_id}"]')
        await expect(row).to_be_visible()
        await expect(row).to_contain_text("Where is my teapot?")
        await row.get_by_role("link").click()
        await expect(console.locator("#messages")).to_contain_text("Where is my teapot?")
        await console.get_by_label("Reply").fill("It ships today.")
        await console.get_by_role("button", name="Send reply").click()
        await expect(console.locator("#messages .message-out")).to_contain_text("It ships today.")

        # And back in the widget, over the chat socket through the proxy.
        shown = widget.locator(".klatch-msg.klatch-out[data-message-id]").filter(
            has_text="It ships today."
        )
        await expect(shown).to_be_visible()
        await expect(shown).to_contain_text(AGENT_NAME)
        await shop.screenshot(path=artifacts_dir / "proxy-widget.png")
    finally:
        site.close()

    # Both sockets were upgraded by nginx (a socket is logged when it closes), and
    # requests went to both replicas.
    await pages.close()
    log = deployment.nginx.prefix / "access.log"

    def upgraded(path: str) -> Callable[[], bool]:
        return lambda: f"GET {path} 101 " in log.read_text()

    for path in ("/v1/realtime", "/c/v1/realtime"):
        await eventually(upgraded(path), f"a WebSocket upgrade of {path} in the access log")
    upstreams = set(re.findall(r"127\.0\.0\.1:(\d+)$", log.read_text(), re.MULTILINE))
    assert upstreams == {str(r.port) for r in deployment.replicas}, upstreams

    with deployment.rest() as rest:
        listed = rest.get(f"/v1/conversations/{conversation_id}/messages")
        assert listed.status_code == 200, listed.text
        bodies = [m["attributes"]["body"] for m in listed.json()["data"]]
        assert bodies == ["Where is my teapot?", "It ships today."]
        # JSON answers are compressed by nginx.
        assert listed.headers.get("content-encoding") == "gzip"


@contextlib.contextmanager
def slow_client(port: int) -> Iterator[ssl.SSLSocket]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET /v1/conversations HTTP/1.1\r\nHost: localhost\r\n")
        yield tls


def test_slow_clients_wait_on_nginx_a_replica_down_the_other_answers_the_sdk_is_cached(
    deployment: Deployment,
) -> None:
    with deployment.rest() as rest:
        sdk = rest.get("/chat-web/widget.js", headers={"Accept-Encoding": "gzip"})
        assert sdk.status_code == 200 and sdk.headers["content-encoding"] == "gzip"
        assert "public" in sdk.headers["cache-control"]
        body = sdk.text

        # A client that sends half its headers and waits is dropped by nginx after
        # client_header_timeout (10 s); the replicas never see it, others go on.
        with slow_client(deployment.nginx.port) as slow:
            assert rest.get("/healthz").status_code == 200
            slow.settimeout(30)
            answer = slow.recv(4096)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]

        first, second = deployment.replicas
        first.stop()
        for _ in range(6):  # whichever replica nginx picks first
            assert rest.get("/v1/conversations").status_code == 200

        second.stop()
        assert rest.get("/v1/conversations").status_code == 502
        cached = rest.get("/chat-web/widget.js", headers={"Accept-Encoding": "gzip"})
        assert cached.status_code == 200 and cached.text == body

        # A body larger than the replicas take is refused by nginx itself.
        large = rest.post("/v1/customers", content=b"x" * (1024 * 1024 + 1))
        assert large.status_code == 413
