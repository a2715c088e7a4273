"""The ``citybrain`` command: serve, build the demo city, migrate, manage accounts and keys, verify
the audit log. Each domain adds its own group (``Domain.cli``)."""

from __future__ import annotations

import os
import random
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit_service
from citybrain.core.auth import service as auth_service
from citybrain.core.auth.models import OrgKind, Property
from citybrain.core.auth.principal import cli_principal
from citybrain.core.auth.schemas import ApiKeyCreate, UserCreate
from citybrain.core.db import migrations
from citybrain.core.db.base import utcnow
from citybrain.core.db.session import Database, create_database
from citybrain.core.errors import CitybrainError
from citybrain.core.i18n import translate
from citybrain.core.plugins import DemoContext
from citybrain.domains import installed
from citybrain.settings import Settings

console = Console()
err = Console(stderr=True)

app = typer.Typer(help="citybrain 城市大脑: an open-source city operating platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for connected systems.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")

DEMO_PROPERTY = "demo.built"
ADMIN_FILE = "demo-admin.txt"


def _settings() -> Settings:
    return Settings()


@contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    database = create_database(settings.effective_database_url, echo=settings.sql_echo)
    try:
        yield database
    finally:
        database.dispose()


@contextmanager
def _transaction(settings: Settings | None = None) -> Iterator[Session]:
    """One transaction for a command: committed when it succeeds, rolled back when it fails."""
    with _database(settings or _settings()) as database, database.transaction() as session:
        yield session


def _fail(exc: CitybrainError) -> None:
    err.print(f"[red]error:[/] {translate(exc.key, 'zh-CN', exc.params)} / {translate(exc.key, 'en', exc.params)}")
    for fe in exc.errors:
        err.print(f"  - {'.'.join(map(str, fe.loc))}: {translate(fe.key, 'en', fe.params)}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    reload: Annotated[bool, typer.Option(help="restart on code changes (development)")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="server processes; about one per core (not with --reload)")] = 1,
) -> None:
    """Serve the pages and the API."""
    import uvicorn

    settings = _settings()
    base = f"http://{host}:{port}"
    console.print(f"[bold]citybrain[/] pages:    {base}/")
    console.print(f"[bold]citybrain[/] API docs: {base}/docs")
    admin_file = settings.var_dir / ADMIN_FILE
    if admin_file.exists():
        console.print(
            f"[bold]citybrain[/] admin login: {admin_file.read_text(encoding='utf-8').strip()}  (from {admin_file})", soft_wrap=True
        )
    if workers > 1 and settings.traffic.twin:
        # each worker would run a twin of its own and pages would see whichever worker answered
        os.environ["CITYBRAIN_TRAFFIC__TWIN"] = "false"
        console.print("[yellow]citybrain[/] the live traffic twin runs with one server process only: it is off with --workers > 1")
    # the demo's connected systems push to this server over loopback, like any other client
    os.environ.setdefault("CITYBRAIN_OPS__FEED_URL", f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}")  # noqa: S104
    uvicorn.run(
        "citybrain.app:create_app", factory=True, host=host, port=port, reload=reload, workers=None if reload else workers, log_level="info"
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Upgrade the database to the latest schema (creates it when missing)."""
    settings = _settings()
    url = settings.effective_database_url
    migrations.upgrade(url, revision)
    console.print(f"[green]✓[/] database at {revision}: {_safe_url(url)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the code's head."""
    with _database(_settings()) as database, database.engine.connect() as conn:
        current = migrations.current_revisions(conn)
    heads = migrations.head_revisions()
    console.print(f"current: {', '.join(sorted(current)) or '(empty)'}; head: {', '.join(sorted(heads))}")
    if current != heads:
        raise typer.Exit(1)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def demo(
    seed: Annotated[int | None, typer.Option(help="make the demo city reproducible from this seed")] = None,
) -> None:
    """Build the demo city once: departments, districts, accounts and each domain's demo data.

    A database that already holds the demo is left as it is (delete var/citybrain.db to rebuild).
    """
    settings = _settings()
    with _transaction(settings) as session:
        built = session.get(Property, DEMO_PROPERTY)
        if built is not None:
            console.print(f"demo city already built at {built.value.get('at')} (seed {built.value.get('seed')}); reusing it")
            return
    rng = random.Random(seed if seed is not None else secrets.randbits(64))  # noqa: S311 - reproducible demo data, not secrets
    domains = [d for d in installed() if d.demo_step is not None]
    try:
        with (
            _transaction(settings) as session,
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress,
        ):
            task = progress.add_task("building the demo city", total=len(domains))
            ctx = DemoContext(session=session, rng=rng, settings=settings, console=console, principal=cli_principal("demo"))
            ctx.shared["seeded"] = seed is not None
            for domain in domains:
                progress.update(task, description=f"demo: {domain.name}")
                assert domain.demo_step is not None
                domain.demo_step(ctx)
                progress.advance(task)
            session.add(Property(key=DEMO_PROPERTY, value={"at": utcnow().isoformat(), "seed": seed}))
    except CitybrainError as exc:
        _fail(exc)
    password = ctx.shared.get("admin_password")
    if password:
        admin_file = settings.var_dir / ADMIN_FILE
        admin_file.parent.mkdir(parents=True, exist_ok=True)
        admin_file.write_text(f"admin / {password}\n", encoding="utf-8")
        admin_file.chmod(0o600)
        console.print(
            f"[bold green]admin login:[/] admin / {password}  (also the password of the demo accounts; kept in {admin_file})",
            soft_wrap=True,
        )


@user_app.command("create")
def user_create(
    username: str,
    org: Annotated[str, typer.Option(help="organisation code, e.g. jn.gaj")],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    role: Annotated[list[str] | None, typer.Option(help="role (repeat for several)")] = None,
    password: Annotated[str | None, typer.Option(help="password; asked for when omitted")] = None,
    id_number: Annotated[str | None, typer.Option(help="a citizen account's resident ID number (only its pseudonym is kept)")] = None,
) -> None:
    """Create a user in an organisation."""
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with _transaction() as session:
            user = auth_service.create_user(
                session,
                cli_principal(),
                UserCreate(
                    username=username,
                    display_name=name or username,
                    password=password,
                    org_code=org,
                    roles=role or ["viewer"],
                    id_number=id_number,
                ),
                secret=_settings().resolved_secret_key(),
            )
            console.print(f"[green]✓[/] user {user.username} (id {user.id}) in {org} with roles {', '.join(user.roles)}")
    except CitybrainError as exc:
        _fail(exc)
    except ValueError as exc:  # pydantic validation of the arguments
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


@user_app.command("list")
def user_list(org: Annotated[str | None, typer.Option(help="only this organisation's users")] = None) -> None:
    """List users."""
    try:
        with _transaction() as session:
            org_id = auth_service.get_org_by_code(session, org).id if org else None
            users, total = auth_service.list_users(session, cli_principal(), org_id=org_id, limit=10_000)
            table = Table("id", "username", "name", "organisation", "roles", "last login", title=f"{total} users")
            for u in users:
                table.add_row(str(u.id), u.username, u.display_name, u.organisation.name, ", ".join(u.roles), str(u.last_login_at or ""))
            console.print(table)
    except CitybrainError as exc:
        _fail(exc)


@user_app.command("set-password")
def user_set_password(username: str, password: Annotated[str | None, typer.Option()] = None) -> None:
    """Set a user's password."""
    if password is None:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        with _transaction() as session:
            auth_service.set_password(session, cli_principal(), username, password)
        console.print(f"[green]✓[/] password of {username} set")
    except CitybrainError as exc:
        _fail(exc)


@org_app.command("list")
def org_list(kind: Annotated[OrgKind | None, typer.Option(help="only this kind")] = None) -> None:
    """List organisations."""
    with _transaction() as session:
        orgs, total = auth_service.list_organisations(session, kind=kind, limit=100_000)
        table = Table("code", "name", "English", "kind", "division", title=f"{total} organisations")
        for o in orgs:
            table.add_row(o.code, o.name, o.name_en or "", o.kind, o.division_code or "")
        console.print(table)


@apikey_app.command("create")
def apikey_create(
    name: str,
    org: Annotated[str, typer.Option(help="organisation (usually a connected system) the key acts for")],
    scope: Annotated[list[str], typer.Option(help="scope the key grants (repeat for several)")],
) -> None:
    """Issue an API key. It is printed once: only its hash is kept."""
    try:
        with _transaction() as session:
            key, raw = auth_service.create_api_key(session, cli_principal(), ApiKeyCreate(name=name, org_code=org, scopes=scope))
            console.print(f"[green]✓[/] key {key.id} ({key.prefix}) for {org}: scopes {', '.join(key.scopes)}")
        console.print(raw, soft_wrap=True)
        err.print("[yellow]keep it now: it cannot be shown again[/]")
    except CitybrainError as exc:
        _fail(exc)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


@apikey_app.command("revoke")
def apikey_revoke(key: Annotated[str, typer.Argument(help="key id or prefix")]) -> None:
    """Revoke an API key; calls with it are refused from now on."""
    try:
        with _transaction() as session:
            row = auth_service.revoke_api_key(session, cli_principal(), key)
            console.print(f"[green]✓[/] key {row.id} ({row.prefix}) revoked at {row.revoked_at}")
    except CitybrainError as exc:
        _fail(exc)


@apikey_app.command("list")
def apikey_list() -> None:
    """List API keys (never the keys themselves)."""
    with _transaction() as session:
        # a prefix is what `apikey revoke` takes: never wrapped, however many keys narrow the table
        table = Table("id", Column("prefix", no_wrap=True, min_width=12), "name", "organisation", "scopes", "last used", "revoked")
        for k in auth_service.list_api_keys(session):
            table.add_row(
                str(k.id), k.prefix, k.name, k.organisation.code, ", ".join(k.scopes), str(k.last_used_at or ""), str(k.revoked_at or "")
            )
        console.print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain and name the first entry that was altered or removed."""
    with _transaction() as session:
        total = audit_service.count(session)
        with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), console=err, transient=True) as progress:
            task = progress.add_task("verify", total=total)
            result = audit_service.verify(session, progress=lambda n: progress.update(task, completed=n))
    zh = translate(result.reason or "audit.intact", "zh-CN", result.params)
    en = translate(result.reason or "audit.intact", "en", result.params)
    if result.ok:
        console.print(f"[green]✓[/] {zh} / {en}")
        return
    err.print(f"[red]✗[/] {zh} / {en}")
    raise typer.Exit(2)


def _add_domain_commands() -> None:
    for domain in installed():
        if domain.cli is not None:
            app.add_typer(domain.cli, name=domain.cli.info.name or domain.name)


_add_domain_commands()


def main() -> None:
    try:
        app()
    except CitybrainError as exc:  # pragma: no cover - commands catch their own
        err.print(f"[red]error:[/] {exc.key}")
        sys.exit(1)
