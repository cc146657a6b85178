"""The command groups: `llmrec` and its sub-commands (each module of this package adds its
commands to them)."""

import typer

app = typer.Typer(
    help="llmrec: an LLM-powered recommender system.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
datasets_app = typer.Typer(help="Public datasets: list them, load one into the store.")
config_app = typer.Typer(help="Show the effective configuration.")
enrich_app = typer.Typer(
    help="LLM enrichment: item descriptions and keywords, user interest keywords."
)
llm_app = typer.Typer(help="The language model: serve the embedded model over HTTP.")
keys_app = typer.Typer(help="API keys of the HTTP service.")
models_app = typer.Typer(
    help="Published model versions (registry.artifacts): list them, serve one (rollback)."
)
experiments_app = typer.Typer(
    help="Online experiments: A/B splits and interleaving of variants, and their reports."
)
app.add_typer(datasets_app, name="datasets")
app.add_typer(enrich_app, name="enrich")
app.add_typer(llm_app, name="llm")
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(experiments_app, name="experiments")
