"""``klatch users``: console users (agents and admins)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from klatch.cli.common import (
    DataDir,
    JsonOut,
    OrgOpt,
    console,
    emit,
    find_user_id,
    load,
    print_table,
    run_in_org,
)
from klatch.domain.models import User, UserRole

if TYPE_CHECKING:
    from klatch.config import Settings

app = typer.Typer(help="Console users (agents and admins).", no_args_is_help=True)


def _password_option(what: str) -> Any:
    """``--password``, which ``_password`` asks for when it is not given."""
    return typer.Option(
        None,
        "--password",
        help=f"{what} (8+ characters); asked for, hidden, when not given",
        show_default=False,
    )


@app.command("create")
def create(
    email: str = typer.Argument(..., help="The user's email, the console login"),
    password: str | None = _password_option("The console password"),
    role: UserRole = typer.Option(
        UserRole.AGENT, "--role", help="agent: the inbox; admin: also the admin pages"
    ),
    name: str | None = typer.Option(None, "--name", help="Display name"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create a console user."""
    settings = load(data_dir)
    secret = _password(password, "Password")
    user = run_in_org(
        settings,
        org,
        lambda services, org_id: services.orgs.create_user(
            org_id, email, secret, role=role, display_name=name
        ),
    )
    emit(
        as_json,
        {"id": user.id, "email": user.email, "role": user.role.value},
        lambda: console.print(f"[green]Created[/green] {user.role.value} {user.email}"),
    )


@app.command("list")
def list_(
    org: str | None = OrgOpt, data_dir: Path | None = DataDir, as_json: bool = JsonOut
) -> None:
    """List console users."""
    users = run_in_org(
        load(data_dir), org, lambda services, org_id: services.orgs.list_users(org_id)
    )
    rows = [_user_json(u) for u in users]

    table = [
        [r["id"], r["email"], r["name"] or "", r["role"], "yes" if r["disabled"] else ""]
        for r in rows
    ]
    emit(as_json, rows, lambda: print_table(("id", "email", "name", "role", "disabled"), table))


def _user_json(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "name": u.display_name,
        "role": u.role.value,
        "disabled": u.disabled_at is not None,
    }


# ---------------------------------------------------------------- lifecycle

UserArg = typer.Argument(..., help="The user's id or email")


def _done(as_json: bool, user: User, what: str) -> None:
    emit(as_json, _user_json(user), lambda: console.print(f"[green]{what}[/green] {user.email}"))


@app.command("edit")
def edit(
    user: str = UserArg,
    name: str | None = typer.Option(None, "--name", help="New display name"),
    role: UserRole | None = typer.Option(None, "--role", help="New role: agent or admin"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Change a user's name or role."""
    settings = load(data_dir)
    _on_user(
        settings,
        org,
        user,
        as_json,
        "Updated",
        lambda s, o, u: s.orgs.update_user(o, u, name=name, role=role),
    )


def _password(given: str | None, prompt: str) -> str:
    """The password given, or one asked for (hidden, typed twice)."""
    if given is None:
        return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))
    return given


def _on_user(
    settings: Settings,
    org: str | None,
    user: str,
    as_json: bool,
    verb: str,
    change: Callable[[Any, str, str], Awaitable[User]],
) -> None:
    """Apply ``change(services, org_id, user_id)`` to the user named by id or email."""

    async def work(services: Any, org_id: str) -> User:
        return await change(services, org_id, await find_user_id(services, org_id, user))

    _done(as_json, run_in_org(settings, org, work), verb)


def _user_command(
    verb: str, change: Callable[[Any, str, str], Awaitable[User]]
) -> Callable[..., None]:
    """A command taking only the user (and the common options) that applies ``change``."""

    def command(
        user: str = UserArg,
        org: str | None = OrgOpt,
        data_dir: Path | None = DataDir,
        as_json: bool = JsonOut,
    ) -> None:
        _on_user(load(data_dir), org, user, as_json, verb, change)

    return command


disable = app.command(
    "disable", help="Disable a user: their console sessions and sockets end at once."
)(_user_command("Disabled", lambda s, o, u: s.orgs.disable_user(o, u)))
enable = app.command("enable", help="Let a disabled user log in again.")(
    _user_command("Enabled", lambda s, o, u: s.orgs.enable_user(o, u))
)


@app.command("reset-password")
def reset_password(
    user: str = UserArg,
    password: str | None = _password_option("The new password"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Set a new password; the user's console sessions end."""
    settings = load(data_dir)
    secret = _password(password, "New password")
    _on_user(
        settings,
        org,
        user,
        as_json,
        "New password for",
        lambda s, o, u: s.orgs.reset_password(o, u, secret),
    )


@app.command("delete")
def delete(
    user: str = UserArg,
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Delete a user; their sessions and sockets end at once."""

    async def work(services: Any, org_id: str) -> str:
        user_id = await find_user_id(services, org_id, user)
        await services.orgs.delete_user(org_id, user_id)
        return user_id

    user_id = run_in_org(load(data_dir), org, work)
    emit(
        as_json,
        {"id": user_id, "deleted": True},
        lambda: console.print(f"[green]Deleted[/green] {user}"),
    )
