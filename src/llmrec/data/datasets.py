"""Public datasets in their official file formats: where to get them, how to read them.

``load_dataset(name, store, settings, path=None)`` ingests a dataset through the same
validation and store as any file. Without ``path`` the files are downloaded from the
dataset's official address into ``settings.effective_datasets_dir`` (once; verified by
checksum where the publisher's file is fixed, otherwise by its archive's contents).
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from llmrec.config import Settings
from llmrec.data.ingest import FrameTransform, IngestReport, ProgressCallback, ingest_file
from llmrec.data.readers import FileFormat, TableSpec
from llmrec.data.records import RecordKind
from llmrec.errors import DatasetError
from llmrec.store import Store

_DOWNLOAD_TIMEOUT_S = 60
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class DatasetTable:
    """One file of a dataset and how its rows become records of one kind."""

    kind: RecordKind
    file: str
    header: bool = True
    delimiter: str | None = None
    encoding: str = "utf-8"
    names: tuple[str, ...] | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    constants: dict[str, object] = field(default_factory=dict)
    # Built from the dataset folder, so a transform can read side files (tag names...).
    transform: Callable[[Path], FrameTransform] | None = None
    format: FileFormat = "csv"  # delimited text unless said otherwise
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Download:
    """A file at the publisher's address; ``md5`` where the publisher's file is fixed."""

    url: str
    md5: str | None = None
    # For archives: the folder inside it that holds the dataset's files.
    archive_folder: str | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    domain: str
    description: str
    tables: tuple[DatasetTable, ...]
    downloads: tuple[Download, ...]
    licence: str


# -- MovieLens 100K -------------------------------------------------------------------

_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_YEAR_IN_TITLE = r"\((\d{4})\)\s*$"


def _ml100k_items(_folder: Path) -> FrameTransform:
    def transform(frame: pd.DataFrame) -> pd.DataFrame:
        flags = frame[list(_ML100K_GENRES)].to_numpy() == "1"
        names = np.array(_ML100K_GENRES, dtype=object)
        tags = ["|".join(names[row]) for row in flags]
        out = frame.drop(columns=[*_ML100K_GENRES, "video_release_date"])
        out["tags"] = tags
        out["year"] = out["title"].str.extract(_YEAR_IN_TITLE, expand=False)
        return out

    return transform


def _movielens_latest_items(_folder: Path) -> FrameTransform:
    def transform(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["tags"] = out["tags"].str.replace("(no genres listed)", "", regex=False)
        out["year"] = out["title"].str.strip().str.extract(_YEAR_IN_TITLE, expand=False)
        return out

    return transform


# -- HetRec Last.fm 2K ----------------------------------------------------------------

_LASTFM_TOP_TAGS = 10


def _lastfm_tag_names(folder: Path) -> pd.Series:
    tags = pd.read_csv(folder / "tags.dat", sep="\t", encoding="latin-1", dtype=str)
    return tags.set_index("tagID")["tagValue"]


def _lastfm_items(folder: Path) -> FrameTransform:
    """Artists get their most used tags (by how many assignments) as item tags."""
    names = _lastfm_tag_names(folder)
    assigned = pd.read_csv(
        folder / "user_taggedartists.dat", sep="\t", dtype=str, usecols=["artistID", "tagID"]
    )
    counts = assigned.value_counts().reset_index(name="n")
    counts["tag"] = counts["tagID"].map(names)
    counts = counts.dropna(subset=["tag"]).sort_values(["artistID", "n"], ascending=[True, False])
    top = counts.groupby("artistID").head(_LASTFM_TOP_TAGS)
    artists = top["artistID"].to_numpy()
    starts = np.flatnonzero(np.r_[True, artists[1:] != artists[:-1]])
    groups = np.split(top["tag"].to_numpy(), starts[1:])
    tags_by_artist = {artists[s]: g.tolist() for s, g in zip(starts, groups, strict=True)}

    def transform(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["tags"] = [tags_by_artist.get(a, []) for a in out["item_id"].tolist()]
        return out

    return transform


def _lastfm_tag_events(folder: Path) -> FrameTransform:
    """A tag assignment is a 'tag' event whose query is the tag text, dated by its day."""
    names = _lastfm_tag_names(folder)

    def transform(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[["user_id", "item_id"]].copy()
        out["query"] = frame["tagID"].map(names)
        dates = frame["year"] + "-" + frame["month"].str.zfill(2) + "-" + frame["day"].str.zfill(2)
        out["timestamp"] = dates
        out["event_type"] = "tag"
        return out

    return transform


# -- Amazon Review Data 2018 ----------------------------------------------------------

_TAG_PATTERN = re.compile(r"<[^>]*(?:>|$)")  # also an unterminated fragment
_AMAZON_BASE = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2"
_AMAZON_TITLE_MAX = 200
_FALLBACK_TITLE_CHARS = 80


def _clean_html(text: object) -> str:
    if not isinstance(text, str):
        return ""
    return " ".join(html.unescape(_TAG_PATTERN.sub(" ", text)).split())


# Descriptions often open with the item's name: "Allure is the beauty expert", "MARLIN,
# the magazine of ...", "Our State: Down Home ...". A name is at most six capitalised
# words (short joining words allowed), then a verb of this list, an appositive or a colon.
# Hyphens join capitalised parts only: "Spin-Off", not "Award-winning".
_NAME_WORD = r"[A-Z0-9][\w'’.!&]*(?:-[A-Z0-9][\w'’.!&]*)*"
_NAME_VERBS = (
    "is|are|has|was|aims|brings|captures|caters|celebrates|combines|contains|continues|"
    "covers|delivers|examines|explores|features|focuses|gives|helps|highlights|includes|"
    "informs|inspires|keeps|makes|offers|presents|profiles|provides|publishes|puts|reaches|"
    "recalls|remains|reports|serves|showcases|shows|speaks|takes|targets|teaches|tells"
)
_NAME = rf"({_NAME_WORD}(?:\s+(?:{_NAME_WORD}|&|of|the|and|for|de|du|des|en|la|y)){{0,5}})"
# Not "Purpose is to meet ...".
_NAME_THEN_VERB = rf"{_NAME}(?:\s+magazine)?\s+(?:\w+ly\s+)?(?:{_NAME_VERBS})\b(?!\s+to\b)"
_LEADING_NAME = re.compile(
    rf"{_NAME_THEN_VERB}|{_NAME},\s+(?:the|a|an)\s|{_NAME}(?::\s|\s+[–—-]\s)"
)
# "Long synonymous with sophistication and glamour, Vogue is ...": a verb must follow,
# and the clause ends in a lower-case word or a number (not "for Film, TV and ...").
_NAME_AFTER_CLAUSE = re.compile(rf"[^,.;:!?]{{0,80}}\b[a-z0-9][\w'’-]*,\s+{_NAME_THEN_VERB}")
# Sentences open with these too ("At Condé Nast Traveler, we ...", "Provides news ...");
# "The" and "Our" only when alone ("The NEW Tennis", "Our State" are names).
_NOT_A_NAME_START = frozenset(
    ("A", "An", "As", "At", "By", "Each", "Every", "For", "From", "Get", "Here", "If", "In",
     "It", "Its", "Join", "Magazine", "News", "Now", "On", "Published", "Publisher", "Since",
     "That", "There", "These", "This", "We", "When", "Whether", "While", "With", "You", "Your",
     *(verb.capitalize() for verb in _NAME_VERBS.split("|")))
)  # fmt: skip


def _leading_name(description: str) -> str:
    """The name a description opens with when it plainly is one, else ""."""
    found = _LEADING_NAME.match(description) or _NAME_AFTER_CLAUSE.match(description)
    if found is None:
        return ""
    name = next(group for group in found.groups() if group)
    words = name.split()
    alone = len(words) == 1
    if words[0] in _NOT_A_NAME_START or (alone and words[0] in ("The", "Our")):
        return ""
    return "" if len(name) < 2 or ". " in name else name  # "O", or a sentence's end


def _distinct_titles(
    ids: list[str], titles: list[str], details: list[str], held: dict[str, str]
) -> list[str]:
    """Every item of a title shared by several gets its detail appended ("Elle – Fashion"),
    else (no detail, or still shared) its id. ``held`` maps the titles (case-folded) given
    in earlier chunks of the file to their item, and gains this chunk's: an item seen
    again keeps its title. An empty title stays empty: such a row is quarantined."""
    choices = []
    for item, title, detail in zip(ids, titles, details, strict=True):
        with_id = f"{title} ({item})"
        plain = detail and detail.casefold() not in title.casefold()
        choices.append((title, f"{title} – {detail}" if plain else with_id, with_id))
    out = list(titles)
    pending = []
    for i, options in enumerate(choices):
        mine = [t for t in options if held.get(t.casefold()) == ids[i]]
        if mine:
            out[i] = mine[0]
        elif titles[i]:
            pending.append(i)
    for level in range(3):
        items: dict[str, set[str]] = {}
        for i in pending:
            items.setdefault(choices[i][level].casefold(), set()).add(ids[i])
        still = []
        for i in pending:
            key = choices[i][level].casefold()
            if len(items[key]) == 1 and held.get(key, ids[i]) == ids[i]:
                out[i] = choices[i][level]
            else:
                still.append(i)
        for i in set(pending) - set(still):
            held.setdefault(out[i].casefold(), ids[i])
        pending = still
    for i in pending:  # the id's title was some other item's own title
        out[i] = choices[i][2]
    return out


def _amazon_items(_folder: Path) -> FrameTransform:
    """Titles are often an HTML fragment: strip markup, then take the name a description
    opens with, else brand or publisher with the most specific category; titles shared by
    several items are told apart (see :func:`_distinct_titles`)."""
    held: dict[str, str] = {}  # across the file's chunks

    def transform(frame: pd.DataFrame) -> pd.DataFrame:
        def column(name: str) -> pd.Series:
            return frame[name] if name in frame.columns else pd.Series([None] * len(frame))

        details = column("details").map(lambda d: d if isinstance(d, dict) else {})
        publisher = details.map(lambda d: str(d.get("Publisher:", "")).strip())
        brand = column("brand").map(_clean_html)
        title = column("title").map(_clean_html)
        broken = (title == "") | (title.str.len() > _AMAZON_TITLE_MAX)
        description = column("description").map(
            lambda d: _clean_html(" ".join(d) if isinstance(d, list) else d)
        )
        tags = column("category").map(
            lambda c: list(dict.fromkeys(_clean_html(x) for x in c)) if isinstance(c, list) else []
        )
        # The first category is the department: it tells no two items apart.
        specific = tags.map(lambda t: t[-1] if len(t) > 1 else "")
        owner = brand.where(brand != "", publisher)
        owned = owner.where((owner == "") | (specific == ""), owner + " – " + specific)
        named = description.where(broken, "").map(_leading_name)
        fallback = named.where(named != "", owned)
        fallback = fallback.where(fallback != "", description.str.slice(0, _FALLBACK_TITLE_CHARS))
        title = title.where(~broken, fallback)
        ids = column("asin").fillna("").astype(str).tolist()
        title = pd.Series(
            _distinct_titles(ids, title.tolist(), specific.tolist(), held), index=title.index
        )
        price = column("price").map(_clean_html)
        return pd.DataFrame(
            {
                "item_id": column("asin"),
                "title": title,
                "description": description,
                "tags": tags,
                "brand": brand.where(brand != "", None),
                "publisher": publisher.where(publisher != "", None),
                "main_cat": column("main_cat").map(_clean_html).replace("", None),
                "price": price.where(price.str.startswith("$"), None),
            }
        )

    return transform


def _amazon_dataset(slug: str, category: str, domain: str) -> Dataset:
    base = f"{_AMAZON_BASE}"
    return Dataset(
        name=f"amazon-2018-{slug}",
        domain=domain,
        description=f"Amazon Review Data 2018, category {category}: ratings, 5-core reviews, "
        "item metadata",
        tables=(
            DatasetTable(
                RecordKind.ITEMS, f"meta_{category}.json.gz", format="jsonl",
                transform=_amazon_items,
            ),
            DatasetTable(
                RecordKind.EVENTS, f"{category}.csv", header=False, format="csv",
                names=("item_id", "user_id", "value", "timestamp"),
                constants={"event_type": "rating"}, optional=True,
            ),
            DatasetTable(
                RecordKind.EVENTS, f"{category}_5.json.gz", format="jsonl",
                mapping={"user_id": "reviewerID", "item_id": "asin", "value": "overall",
                         "timestamp": "unixReviewTime"},
                constants={"event_type": "rating"}, optional=True,
            ),
        ),
        downloads=(
            Download(f"{base}/metaFiles2/meta_{category}.json.gz"),
            Download(f"{base}/categoryFilesSmall/{category}.csv"),
            Download(f"{base}/categoryFilesSmall/{category}_5.json.gz"),
        ),
        licence="Research use; cite Ni, Li and McAuley, EMNLP 2019.",
    )  # fmt: skip


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="movielens-100k",
            domain="movies",
            description="MovieLens 100K: 100,000 ratings (1-5) by 943 users of 1,682 movies",
            tables=(
                DatasetTable(
                    RecordKind.ITEMS, "u.item", header=False, delimiter="|",
                    encoding="latin-1",
                    names=("item_id", "title", "release_date", "video_release_date",
                           "imdb_url", *_ML100K_GENRES),
                    transform=_ml100k_items,
                ),
                DatasetTable(
                    RecordKind.USERS, "u.user", header=False, delimiter="|",
                    names=("user_id", "age", "gender", "occupation", "zip_code"),
                ),
                DatasetTable(
                    RecordKind.EVENTS, "u.data", header=False, delimiter="\t",
                    names=("user_id", "item_id", "value", "timestamp"),
                    constants={"event_type": "rating"},
                ),
            ),
            downloads=(
                Download(
                    "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                    md5="0e33842e24a9c977be4e0107933c0723",
                    archive_folder="ml-100k",
                ),
            ),
            licence="GroupLens research licence: research use, no redistribution.",
        ),
        Dataset(
            name="movielens-latest-small",
            domain="movies",
            description="MovieLens latest-small: ~100k ratings, movie genres, free-text user tags",
            tables=(
                DatasetTable(
                    RecordKind.ITEMS, "movies.csv",
                    mapping={"item_id": "movieId", "tags": "genres"},
                    transform=_movielens_latest_items,
                ),
                DatasetTable(
                    RecordKind.EVENTS, "ratings.csv",
                    mapping={"user_id": "userId", "item_id": "movieId", "value": "rating"},
                    constants={"event_type": "rating"},
                ),
                DatasetTable(
                    RecordKind.EVENTS, "tags.csv",
                    mapping={"user_id": "userId", "item_id": "movieId", "query": "tag"},
                    constants={"event_type": "tag"}, optional=True,
                ),
            ),
            downloads=(
                # The publisher replaces this file between editions: no fixed checksum.
                Download(
                    "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
                    archive_folder="ml-latest-small",
                ),
            ),
            licence="GroupLens research licence: non-commercial use.",
        ),
        Dataset(
            name="lastfm-2k",
            domain="music",
            description="HetRec 2011 Last.fm 2K: play counts of 17,632 artists by 1,892 users, "
            "tag assignments, friend graph",
            tables=(
                DatasetTable(
                    RecordKind.ITEMS, "artists.dat", delimiter="\t",
                    mapping={"item_id": "id", "title": "name"},
                    transform=_lastfm_items,
                ),
                DatasetTable(
                    RecordKind.LINKS, "user_friends.dat", delimiter="\t",
                    mapping={"user_id": "userID", "friend_id": "friendID"},
                ),
                DatasetTable(
                    RecordKind.EVENTS, "user_artists.dat", delimiter="\t",
                    mapping={"user_id": "userID", "item_id": "artistID", "value": "weight"},
                    constants={"event_type": "play"},
                ),
                DatasetTable(
                    RecordKind.EVENTS, "user_taggedartists.dat", delimiter="\t",
                    mapping={"user_id": "userID", "item_id": "artistID"},
                    transform=_lastfm_tag_events, optional=True,
                ),
            ),
            downloads=(
                Download(
                    "https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip",
                ),
            ),
            licence="Non-commercial use (Last.fm terms).",
        ),
        _amazon_dataset("gift-cards", "Gift_Cards", "e-commerce"),
        _amazon_dataset("magazine-subscriptions", "Magazine_Subscriptions", "e-commerce"),
    )
}  # fmt: skip


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DatasetError(f"unknown dataset {name!r}; known: {known}") from None


def dataset_folder(
    dataset: Dataset,
    settings: Settings,
    path: Path | None = None,
    progress: Callable[[str], ProgressCallback | None] | None = None,
) -> Path:
    """The folder holding the dataset's files: ``path``, or the download cache (fetched once)."""
    if path is not None:
        if not path.is_dir():
            raise DatasetError(f"{path}: not a folder")
        _check_files(dataset, path)
        return path
    folder = settings.effective_datasets_dir / dataset.name
    if folder.is_dir() and _has_required_files(dataset, folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for download in dataset.downloads:
        url = _mirrored(download.url, settings.datasets_mirror)
        target = folder / url.rsplit("/", 1)[-1]
        required = _required_for(dataset, download)
        try:
            fetch(url, target, download.md5, progress(target.name) if progress else None)
        except DatasetError:
            if required:
                raise
            continue  # an optional file the publisher does not offer for this category
        if download.archive_folder is not None:
            _extract(target, download.archive_folder, folder)
    _check_files(dataset, folder)
    return folder


def _mirrored(url: str, mirror: str | None) -> str:
    if not mirror:
        return url
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[-1]}"


def _required_for(dataset: Dataset, download: Download) -> bool:
    name = download.url.rsplit("/", 1)[-1]
    optional = {t.file for t in dataset.tables if t.optional}
    return download.archive_folder is not None or name not in optional


def _has_required_files(dataset: Dataset, folder: Path) -> bool:
    return all((folder / t.file).is_file() for t in dataset.tables if not t.optional)


def _check_files(dataset: Dataset, folder: Path) -> None:
    missing = [t.file for t in dataset.tables if not t.optional and not (folder / t.file).is_file()]
    if missing:
        raise DatasetError(f"{folder}: not a copy of {dataset.name}; missing {', '.join(missing)}")


def fetch(
    url: str, target: Path, md5: str | None = None, progress: ProgressCallback | None = None
) -> Path:
    """Download ``url`` to ``target`` (via a temporary file), verifying ``md5`` if given.

    An existing ``target`` with the right checksum is kept; a wrong one is replaced.
    """
    if target.is_file() and (md5 is None or _md5(target) == md5):
        return target
    partial = target.with_name(target.name + ".part")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            with partial.open("wb") as out:
                while block := response.read(_CHUNK_BYTES):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, max(total, done))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DatasetError(
            f"cannot download {url}: {reason}; with a copy of the files, give its folder "
            "with --path (or set datasets_mirror to a server that has them)"
        ) from None
    if total and done != total:
        partial.unlink(missing_ok=True)
        raise DatasetError(f"{url}: got {done} bytes, expected {total}")
    if md5 is not None and digest.hexdigest() != md5:
        partial.unlink(missing_ok=True)
        raise DatasetError(f"{url}: checksum mismatch (md5 {digest.hexdigest()}, expected {md5})")
    partial.replace(target)
    return target


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _extract(archive: Path, inner: str, folder: Path) -> None:
    """Extract the files under ``inner/`` of a zip into ``folder`` (flat), refusing odd paths."""
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise DatasetError(f"{archive}: corrupt member {bad}")
            for member in zf.infolist():
                parts = Path(member.filename).parts
                if member.is_dir() or len(parts) != 2 or parts[0] != inner:
                    continue
                with zf.open(member) as src, (folder / parts[1]).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as exc:
        archive.unlink(missing_ok=True)
        raise DatasetError(f"{archive}: not a zip archive ({exc})") from None


def load_dataset(
    name: str,
    store: Store,
    settings: Settings,
    path: Path | None = None,
    progress: Callable[[str], ProgressCallback | None] | None = None,
) -> list[IngestReport]:
    """Ingest every table of dataset ``name`` into ``store``; one report per file.

    ``progress``, given a file name, returns the callback for that file's progress.
    """
    dataset = get_dataset(name)
    folder = dataset_folder(dataset, settings, path, progress)
    reports = []
    for table in dataset.tables:
        file = folder / table.file
        if table.optional and not file.is_file():
            continue
        spec = TableSpec(
            path=file,
            format=table.format,
            delimiter=table.delimiter,
            encoding=table.encoding,
            header=table.header,
            names=table.names,
            mapping=dict(table.mapping),
            constants=dict(table.constants),
        )
        transform = table.transform(folder) if table.transform is not None else None
        reports.append(
            ingest_file(
                store,
                spec,
                table.kind,
                settings,
                transform=transform,
                progress=progress(table.file) if progress is not None else None,
            )
        )
    return reports
