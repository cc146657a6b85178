"""Online experiments: `experiments create/list/pause/resume/stop/report`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmrec.cli.apps import experiments_app
from llmrec.cli.common import (
    _answering,
    _FormatOption,
    _open_store,
    _settings,
    _user_errors,
    console,
)
from llmrec.presentation import Listing, OutputFormat, show

_NameArgument = Annotated[str, typer.Argument(help="the experiment's name")]


@experiments_app.command("create")
def create(
    ctx: typer.Context,
    name: _NameArgument,
    variant: Annotated[
        list[str],
        typer.Option(
            "--variant",
            help="NAME=SHARE[,strategy=model|popular][,diversity=0.3][,version=N] (repeat: two "
            "or more; the first is the control; version: a published model version)",
        ),
    ],
    kind: Annotated[str, typer.Option(help="ab, or interleave (two variants)")] = "ab",
    window_hours: Annotated[
        float, typer.Option(min=0.001, help="outcomes this long after an impression count")
    ] = 24.0,
    conversion: Annotated[
        list[str] | None, typer.Option(help="event types that are conversions (repeatable)")
    ] = None,
    traffic: Annotated[
        float, typer.Option(help="share of users in it; the others are served as without it")
    ] = 1.0,
    paused: Annotated[bool, typer.Option("--paused", help="create it without starting")] = False,
) -> None:
    """Create an experiment and start it (one runs at a time); every `llmrec serve` of
    this store serves its variants within seconds."""
    from llmrec.app.experiments import Experiments

    spec = {"name": name, "kind": kind, "window_s": window_hours * 3600, "traffic": traffic,
            "variants": [_variant(v) for v in variant]}  # fmt: skip
    if conversion:
        spec["conversions"] = conversion
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        served = None
        if any("model_version" in v for v in spec["variants"]):
            with _answering(settings, store) as service:  # versions must share its users
                served = service.model() if service is not None else None
        made = Experiments(store, settings).create(spec, start=not paused, served=served)
    shares = ", ".join(f"{v.name} {v.share:g}" for v in made.variants)
    console.print(f"experiment {made.name} ({made.kind}: {shares}) "
                  f"{'created, paused' if paused else 'running'}")  # fmt: skip


@experiments_app.command("list")
def listed(ctx: typer.Context, fmt: _FormatOption = OutputFormat.TABLE) -> None:
    """Every experiment with its status and variants."""
    from llmrec.app.experiments import Experiments

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        rows = Experiments(store).listed()
    variants = [", ".join(f"{v['name']} {v['share']:g}" for v in r["variants"]) for r in rows]
    show(console, [Listing("experiments", "experiments",
                           ["name", "kind", "status", "variants", "window h"],
                           [[r["name"], r["kind"], r["status"], v, r["window_s"] / 3600]
                            for r, v in zip(rows, variants, strict=True)])], fmt)  # fmt: skip


def _set(ctx: typer.Context, name: str, status: str) -> None:
    from llmrec.app.experiments import Experiments

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        Experiments(store).set_status(name, status)
    console.print(f"experiment {name}: {status}")


@experiments_app.command("pause")
def pause(ctx: typer.Context, name: _NameArgument) -> None:
    """Stop assigning users (lists are the model's own again); resume later."""
    _set(ctx, name, "paused")


@experiments_app.command("resume")
def resume(ctx: typer.Context, name: _NameArgument) -> None:
    """Run a paused experiment again, with the same assignment."""
    _set(ctx, name, "running")


@experiments_app.command("stop")
def stop(ctx: typer.Context, name: _NameArgument) -> None:
    """End an experiment for good; its report stays."""
    _set(ctx, name, "stopped")


@experiments_app.command("report")
def report(
    ctx: typer.Context, name: _NameArgument, fmt: _FormatOption = OutputFormat.TABLE
) -> None:
    """Users, impressions, click-through and conversion per variant, per-user means with
    95% intervals, the lift over the control with Welch's p-value, and the sample-ratio
    check; for interleaving, whose items won the users' clicks."""
    from llmrec.app.experiments import Experiments

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        found = Experiments(store, settings).report(name, settings.event_weights)
    if fmt is OutputFormat.JSON:
        import orjson

        console.out(orjson.dumps(found.to_dict(), option=orjson.OPT_INDENT_2).decode(),
                    highlight=False)  # fmt: skip
        return
    if found.interleaving is not None:
        won = found.interleaving
        rows = [[variant, wins] for variant, wins in won.wins.items()] + [["ties", won.ties]]
        caption = f"Δ {won.delta:+.3f}, p = {won.p_value:.3g} (binomial, users with a preference)"
        show(console, [Listing("wins", f"{name}: users whose clicks went to", ["variant", "users"],
                               rows, caption=caption)], fmt)  # fmt: skip
        return
    rows = [
        [v.variant, v.users, v.impressions, v.click_through, v.conversion,
         _interval(v.user_click_through), v.lift, v.p_value]
        for v in found.variants
    ]  # fmt: skip
    ratio = "" if found.sample_ratio_p is None else f"sample ratio p = {found.sample_ratio_p:.3g}"
    if found.sample_ratio_mismatch:
        ratio += ": MISMATCH — users are not split as the shares say; do not trust the lift"
    columns = ["variant", "users", "impressions", "CTR", "conversion", "user CTR (95% CI)",
               "lift", "p"]  # fmt: skip
    formats = {"CTR": ".4f", "conversion": ".4f", "lift": "+.1%", "p": ".3g"}
    caption = "; ".join([ratio, *found.notes])
    title = f"{name} ({found.impressions} impressions)"
    show(console, [Listing("variants", title, columns, rows, formats, caption=caption)], fmt)


def _interval(estimate) -> str:
    return f"{estimate.mean:.4f} [{estimate.low:.4f}, {estimate.high:.4f}]"


def _variant(text: str) -> dict:
    """``NAME=SHARE[,key=value...]`` as a variant's fields."""
    head, *options = [part.strip() for part in text.split(",")]
    if "=" not in head:
        raise typer.BadParameter(f"{text!r}: expected NAME=SHARE, e.g. control=0.5")
    name, share = head.split("=", 1)
    spec: dict[str, object] = {"name": name, "share": _number(share, text)}
    for option in options:
        key, _, value = option.partition("=")
        if key == "diversity":
            spec[key] = _number(value, text)
        elif key == "strategy":
            spec[key] = value
        elif key == "version":
            spec["model_version"] = int(_number(value, text))
        else:
            raise typer.BadParameter(
                f"{text!r}: unknown option {key!r} (strategy, diversity, version)"
            )
    return spec


def _number(value: str, text: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"variant {text!r}: {value!r} is not a number") from None
