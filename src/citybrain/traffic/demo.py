"""The traffic part of the demo city: the real Jinan 3x4 network with its recorded flow."""

from __future__ import annotations

from citybrain.core.plugins import DemoContext


def seed_traffic(ctx: DemoContext) -> None:
    """Import the Jinan 3x4 network (converted from CityFlow once, then cached by content)."""
    from citybrain.traffic import service

    data = ctx.settings.data_dir / "traffic" / "jinan_3x4"
    if not data.is_dir():
        ctx.console.print(f"[yellow]{data} not found: the demo city has no traffic network[/]")
        return
    network = service.import_builtin(ctx.session, ctx.principal, "jinan_3x4", data_dir=ctx.settings.data_dir, var_dir=ctx.settings.var_dir)
    ctx.console.print(f"[green]✓[/] traffic: {network.name}, {network.junctions} signalised junctions, {network.vehicles:,} vehicles")
