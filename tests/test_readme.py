"""The README's quickstart, run as written: its shell blocks, in a fresh directory,
against the ``klatch serve`` they start, in one bash like a reader's terminal.

Each command that has a ``# …`` line under it (an answer, with its status when
it is an error) must print that JSON; ``…`` in the README stands for any value.
The only changes made to the text: the port (a free one instead of 8100), and a
wait for the server to answer before the next command (a reader types slower).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support import clean_env, free_port, need_service

README = Path(__file__).parent.parent / "README.md"
SECTION = "## Quickstart for integrators"
PORT = "8100"
MARK = "@@klatch-readme-{}@@"
# "# {…}", "# [ … ]" or "# 400 {…}": the answer the command above prints.
ANSWER = re.compile(r"#\s+(?:(\d{3})\s+)?([\[{].*)")
ANY = "…"


@dataclass
class Command:
    text: str
    answer: str | None = None  # the JSON the README shows under it


def quickstart_blocks(readme: str) -> list[str]:
    """The ``sh`` blocks of the quickstart section."""
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def commands_of(block: str) -> list[Command]:
    commands: list[Command] = []
    pending = ""
    answering = False  # the comment lines under a command are its answer
    for line in block.splitlines():
        if pending:
            pending += "\n" + line
            if not line.endswith("\\"):
                commands.append(Command(pending))
                pending, answering = "", True
            continue
        stripped = line.strip()
        if not stripped:
            answering = False
            continue
        if stripped.startswith("#"):
            found = ANSWER.fullmatch(stripped)
            last = commands[-1] if commands else None
            if answering and last is not None and last.answer is None and found:
                last.answer = found.group(2)
            elif answering and last is not None and last.answer is not None:
                last.answer += stripped.lstrip("#").strip()  # a continued answer
            else:
                answering = False
            continue
        if line.endswith("\\"):
            pending = line
            continue
        commands.append(Command(line))
        answering = True
    assert not pending, f"a command is not finished: {pending}"
    return commands


def script_of(commands: list[Command], port: str) -> str:
    lines = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for number, command in enumerate(commands):
        lines.append(f"printf '\\n{MARK.format(number)}\\n'")
        lines.append(command.text.replace(PORT, port))
        if command.text.lstrip().startswith("klatch serve"):
            lines.append(
                "for _ in $(seq 300); do curl -sf http://127.0.0.1:"
                f"{port}/healthz >/dev/null && break; sleep 0.1; done"
            )
    return "\n".join(lines) + "\n"


def matches(expected: Any, actual: Any) -> bool:
    """``actual`` is ``expected``, where ``…`` in the README stands for any value."""
    if expected == ANY:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(matches(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def test_the_quickstart_commands_of_the_readme_run_as_written(tmp_path: Path) -> None:
    for tool in ("curl", "jq"):
        need_service(tool, shutil.which(tool), f"{tool} on the PATH (apt-get install {tool})")
    commands = [c for block in quickstart_blocks(README.read_text()) for c in commands_of(block)]
    assert any(c.text.startswith("klatch init") for c in commands), "no quickstart found"
    assert sum(c.answer is not None for c in commands) >= 5, "the answers were not found"
    script = script_of(commands, str(free_port()))
    env = clean_env()
    # The commands call `klatch` as the README's first line puts it on the PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    outputs = _outputs(stdout, len(commands))
    assert process.returncode == 0, (
        f"the quickstart failed at: {_last_started(outputs, commands)}\n{stdout}\n{stderr}"
    )
    for number, command in enumerate(commands):
        if command.answer is None:
            continue
        expected = json.loads(command.answer)
        printed = outputs.get(number, "").strip()
        assert printed, f"{command.text}: printed nothing\n{stderr}"
        assert matches(expected, json.loads(printed)), (
            f"{command.text}\nREADME: {command.answer}\nserver: {printed}"
        )
    assert (tmp_path / "quickstart-data" / "klatch.db").is_file()


def _outputs(stdout: str, count: int) -> dict[int, str]:
    """What each command printed, by its number."""
    outputs: dict[int, str] = {}
    parts = re.split(r"\n?" + re.escape(MARK).replace(r"\{\}", r"(\d+)") + r"\n", stdout)
    for number, text in zip(parts[1::2], parts[2::2], strict=True):
        outputs[int(number)] = text
    assert len(outputs) <= count
    return outputs


def _last_started(outputs: dict[int, str], commands: list[Command]) -> str:
    return commands[max(outputs)].text if outputs else "(nothing ran)"
