"""klatch.d.ts against TypeScript from the npm registry, under ``tsc --strict``:
Kustomer's documented examples, and every example of ours (the README, the SDK
guide, the demo page's script), compile unchanged; code that gets the SDK wrong
does not."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from npm_tools import TYPESCRIPT, TYPESCRIPT_5, npm_package

ROOT = Path(__file__).resolve().parents[2]
DTS = ROOT / "src/klatch/sdk/klatch.d.ts"
HERE = Path(__file__).parent

# The names our examples leave to the page (an id it has, a function of its own).
PAGE = """declare const id: string;
declare const tokenFromYourServer: string;
declare const token: string;
declare function showChatButton(): void;
declare function showError(error: Error): void;
declare function render(message: KlatchMessage): void;
"""
# JavaScript examples are checked as a TypeScript user's editor checks them (checkJs).
STRICT = [
    "--strict",
    "--noEmit",
    "--allowJs",
    "--checkJs",
    "--target",
    "es2020",
    "--lib",
    "es2020,dom",
]


def tsc(
    directory: Path, *files: Path, typescript: tuple[str, str] = TYPESCRIPT
) -> subprocess.CompletedProcess[str]:
    """``tsc --strict`` over ``files`` with klatch.d.ts, as a page's project has it."""
    compiler = npm_package(typescript) / "bin" / "tsc"
    (directory / "klatch.d.ts").write_bytes(DTS.read_bytes())
    (directory / "page.d.ts").write_text(PAGE)
    names = ["klatch.d.ts", "page.d.ts", *(str(f.relative_to(directory)) for f in files)]
    return subprocess.run(
        ["node", str(compiler), *STRICT, *names],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def snippets(text: str, *languages: str) -> list[str]:
    """The fenced code blocks of a Markdown text in those languages."""
    pattern = r"^```(" + "|".join(languages) + r")\n(.*?)^```"
    return [m.group(2) for m in re.finditer(pattern, text, re.MULTILINE | re.DOTALL)]


def inline_scripts(html: str) -> list[str]:
    """The code of the ``<script>`` elements without ``src``."""
    return re.findall(r"<script>\n(.*?)</script>", html, re.DOTALL)


def our_examples() -> dict[str, str]:
    """Every JavaScript and TypeScript example in our docs and pages, by a file name
    (``.js`` or ``.ts`` as the example is written)."""
    found: dict[str, str] = {}
    for doc in (ROOT / "README.md", ROOT / "docs/sdk.md"):
        text = doc.read_text()
        blocks = [(b, "js") for b in snippets(text, "js")] + [
            (b, "ts") for b in snippets(text, "ts")
        ]
        blocks += [(s, "js") for html in snippets(text, "html") for s in inline_scripts(html)]
        for n, (block, suffix) in enumerate(blocks):
            found[f"{doc.stem}_{n}.{suffix}"] = block
    for n, script in enumerate(inline_scripts((ROOT / "src/klatch/sdk/demo.html").read_text())):
        found[f"demo_{n}.js"] = script
    return found


COMPILERS = {"ts7": TYPESCRIPT, "ts5": TYPESCRIPT_5}


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
def test_kustomers_documented_examples_compile_unchanged(tmp_path: Path, compiler: str) -> None:
    examples = tmp_path / "kustomer_examples.ts"
    examples.write_bytes((HERE / "kustomer_examples.ts").read_bytes())
    done = tsc(tmp_path, examples, typescript=COMPILERS[compiler])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
def test_every_example_in_our_docs_and_the_demo_page_compiles(
    tmp_path: Path, compiler: str
) -> None:
    examples = our_examples()
    assert {"README_0.js", "sdk_0.js", "demo_0.js"} <= set(examples), sorted(examples)
    assert any(name.endswith(".ts") for name in examples), sorted(examples)
    files = []
    for name, code in examples.items():
        # Each its own module, as each is its own page, so their names do not clash.
        (tmp_path / name).write_text(code + "\nexport {};\n")
        files.append(tmp_path / name)
    done = tsc(tmp_path, *files, typescript=COMPILERS[compiler])
    assert done.returncode == 0, done.stdout + done.stderr


MISTAKES = {
    "unknown_event": (
        "Kustomer.addListener('onConversationCreated', (res) => console.log(res));",
        "TS2345",
    ),
    "no_such_payload_field": (
        "Kustomer.addListener('onConversationCreate', (res) => console.log(res.orderId));",
        "TS2339",
    ),
    "no_payload_on_open": (
        "Kustomer.addListener('onOpen', (res) => console.log(res.conversationId));",
        "TS18047",
    ),
    "response_used_without_checking_error": (
        "Kustomer.describeConversation({conversationId: 'c', customAttributes: {}},\n"
        "  (res) => console.log(res.custom));",
        "TS18047",
    ),
    "conversation_id_not_a_string": (
        "Kustomer.describeConversation({conversationId: 5, customAttributes: {}});",
        "TS2322",
    ),
    "attribute_value_an_object": (
        "Kustomer.describeConversation({conversationId: 'c', customAttributes: {a: {b: 1}}});",
        "TS2322",
    ),
    "no_such_method": ("Kustomer.describeConversations({});", "TS2551"),
    "pre_chat_form_option_not_a_boolean": (
        "Kustomer.start({ klatch: { preChatForm: 'off' } });",
        "TS2322",
    ),
    "next_conversation_id_used_as_a_string": (
        "Kustomer.describeConversation({ customAttributes: { a: 1 } }, (res, error) => {\n"
        "  if (!error) res.conversationId.length;\n});",
        "TS18047",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_code_that_gets_the_sdk_wrong_does_not_compile(tmp_path: Path, mistake: str) -> None:
    code, error = MISTAKES[mistake]
    (tmp_path / "wrong.ts").write_text(code + "\nexport {};\n")
    done = tsc(tmp_path, tmp_path / "wrong.ts")
    assert done.returncode != 0, f"{mistake} compiled"
    assert f"error {error}" in done.stdout, done.stdout
