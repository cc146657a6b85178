"""Public datasets in their official formats, from a local copy or a (local) download."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from llmrec.config import Settings, load_settings
from llmrec.data import datasets
from llmrec.data.datasets import fetch, load_dataset
from llmrec.errors import DatasetError
from llmrec.store import Store
from tests.conftest import shared_dataset


def _stored(reports) -> dict[str, int]:
    return {Path(r.source).name: r.stored for r in reports}


def test_movielens_100k(store: Store, settings: Settings, ml100k: Path):
    reports = load_dataset("movielens-100k", store, settings, path=ml100k)
    assert _stored(reports) == {"u.item": 1681, "u.user": 943, "u.data": 100_000}
    # This copy's line 267 has 25 fields instead of 24: quarantined, not fatal.
    assert [(r.quarantined) for r in reports] == [1, 0, 0]
    assert store.quarantine_frame()["line"].tolist() == [267]
    items = store.items_frame().set_index("item_id")
    assert items.loc["1", "title"] == "Toy Story (1995)"
    assert items.loc["1", "tags"] == ["Animation", "Children's", "Comedy"]
    assert items.loc["1", "attributes"]["year"] == 1995
    assert pd.isna(items.loc["1", "created_at"])
    users = store.users_frame().set_index("user_id")
    assert users.loc["1", "attributes"] == {
        "age": 24, "gender": "M", "occupation": "technician", "zip_code": "85711",
    }  # fmt: skip
    events = store.events_frame()
    first = events[(events.user_id == "196") & (events.item_id == "242")].iloc[0]
    assert (first.event_type, first.value, first.timestamp) == ("rating", 3.0, 881250949)


def test_movielens_latest_small(store: Store, settings: Settings):
    reports = load_dataset(
        "movielens-latest-small", store, settings, path=shared_dataset("ml-latest-small")
    )
    assert _stored(reports) == {"movies.csv": 9125, "ratings.csv": 100_004, "tags.csv": 1296}
    counts = store.event_type_counts().set_index("event_type")["events"].to_dict()
    assert counts == {"rating": 100_004, "tag": 1296}
    items = store.items_frame().set_index("item_id")
    assert items.loc["1", "tags"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]


def test_lastfm_2k_with_tags_and_friends(store: Store, settings: Settings):
    reports = load_dataset(
        "lastfm-2k", store, settings, path=shared_dataset("hetrec2011-lastfm-2k")
    )
    assert _stored(reports) == {
        "artists.dat": 17_632, "user_friends.dat": 25_434, "user_artists.dat": 92_834,
        "user_taggedartists.dat": 186_479,
    }  # fmt: skip
    items = store.items_frame().set_index("item_id")
    assert items.loc["1", "title"] == "MALICE MIZER"
    assert 0 < len(items.loc["1", "tags"]) <= 10
    plays = store.events_frame()
    plays = plays[plays.event_type == "play"]
    assert plays.loc[(plays.user_id == "2") & (plays.item_id == "51"), "value"].item() == 13883


def test_amazon_gift_cards_and_magazines(store: Store, settings: Settings):
    gift = load_dataset(
        "amazon-2018-gift-cards", store, settings, path=shared_dataset("amazon-2018-gift-cards")
    )
    assert _stored(gift) == {"meta_Gift_Cards.json.gz": 1547, "Gift_Cards_5.json.gz": 2969}
    assert gift[1].duplicates == 3
    magazines = load_dataset(
        "amazon-2018-magazine-subscriptions", store, settings,
        path=shared_dataset("amazon-2018-magazine-subscriptions"),
    )  # fmt: skip
    meta, _ratings, five_core = magazines
    # 1,065 identical duplicate lines; one item (listed twice) has no title, brand,
    # publisher or description at all: both its lines are quarantined.
    assert (meta.duplicates, meta.quarantined) == (1064, 2)
    raw = store.quarantine_frame()["raw"].tolist()
    assert all(r.startswith('{"category"') and '"asin": "B00005NINW"' in r for r in raw)
    assert five_core.stored == 0 and five_core.duplicates == 2375  # all also in the CSV
    titles = store.items_frame()["title"]
    assert not titles.str.contains("<").any()


def _magazine_titles(store: Store, settings: Settings) -> pd.Series:
    load_dataset(
        "amazon-2018-magazine-subscriptions", store, settings,
        path=shared_dataset("amazon-2018-magazine-subscriptions"),
    )  # fmt: skip
    items = store.items_frame()
    return items.set_index("item_id")["title"]


def test_magazine_titles_are_names_and_distinct(store: Store, settings: Settings):
    titles = _magazine_titles(store, settings)
    # Before: 1,443 of 2,319 items shared one of 204 titles ("Hearst Magazines" 255 times).
    assert len(titles) == 2319 and titles.str.casefold().is_unique
    assert titles["B00028WYVS"] == "Coral"  # "Coral includes in-depth articles ..."
    assert titles["B0000A8YW4"] == "WATERCOLOR ARTIST"
    assert titles["B00BIT16B4"] == "Professional Artist"
    # No name in the description: the publisher and the most specific category.
    assert titles["B00006KW9R"] == "Gruner Und Jahr Ag & Co – Decorative Arts"
    # Several Allure listings in one category: told apart by their ids.
    assert titles["B00005N7OD"] == "Allure (B00005N7OD)"
    assert not titles.isin(["Bonnier Corporation", "Hearst Magazines"]).any()


def test_magazine_titles_stay_distinct_across_chunks(tmp_path: Path):
    settings = load_settings(home=tmp_path / "home", ingest={"chunk_rows": 300})
    with Store.open(settings.effective_database_url) as store:
        titles = _magazine_titles(store, settings)
    assert len(titles) == 2319 and titles.str.casefold().is_unique


@pytest.mark.parametrize(
    ("description", "name"),
    [
        ("REASON is edited for those who ...", "REASON"),
        ("Field & Stream is the world's leading outdoor magazine.", "Field & Stream"),
        ("MARLIN, the magazine of convertible sport fishing boats, covers ...", "MARLIN"),
        ("Our State: Down Home in North Carolina is the premier ...", "Our State"),
        ("Good Housekeeping magazine has been the advocate ...", "Good Housekeeping"),
        ("From the cover to the very last page, Allure delivers beauty ...", "Allure"),
        ("Since 1962, BICYCLING has been inspiring people ...", "BICYCLING"),
        ("This magazine is edited for the active pilot.", ""),
        ("Provides timely reports on market happenings ...", ""),
        ("At Condé Nast Traveler, we inspire action ...", ""),
        ("Award-winning Sojourners magazine covers ...", ""),
        ("Purpose is to meet the spiritual needs of ...", ""),
        ("The Premier Guide to Resources for Film, TV and Reenactors is ...", ""),
        ("Bassmaster. It is the official magazine ...", ""),
        ("Magazine featuring the life of Kurt Cobain", ""),
    ],
)
def test_a_description_names_its_item_only_plainly(description: str, name: str):
    assert datasets._leading_name(description) == name


def test_shared_titles_get_the_detail_else_the_id():
    held: dict[str, str] = {}
    first = datasets._distinct_titles(
        ["a", "b", "c", "d", "a", ""],
        ["Elle", "Elle", "Vogue", "Vogue", "Elle", ""],
        ["Fashion", "Women", "Women", "Women", "Fashion", ""],
        held,
    )
    # "a" is listed twice (a duplicate line): one item, one title.
    assert first == [
        "Elle – Fashion", "Elle – Women", "Vogue (c)", "Vogue (d)", "Elle – Fashion", "",
    ]  # fmt: skip
    # A later chunk: "a" keeps its title, which "e" cannot have; "Vogue" itself is free.
    later = datasets._distinct_titles(
        ["e", "f", "a", "g"], ["Elle", "Elle", "Elle", "Vogue"], ["Fashion", "", "Fashion", ""],
        held,
    )  # fmt: skip
    assert later == ["Elle (e)", "Elle (f)", "Elle – Fashion", "Vogue"]


def test_unknown_dataset_and_wrong_folder(store: Store, settings: Settings, tmp_path: Path):
    with pytest.raises(DatasetError, match="unknown dataset 'movielens-1b'; known: "):
        load_dataset("movielens-1b", store, settings)
    with pytest.raises(DatasetError, match=r"missing u\.item, u\.user, u\.data"):
        load_dataset("movielens-100k", store, settings, path=tmp_path)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server on 127.0.0.1 serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_verifies_the_checksum(http_server, tmp_path: Path):
    base, root = http_server
    (root / "file.bin").write_bytes(b"x" * 5000)
    good = hashlib.md5(b"x" * 5000).hexdigest()
    seen: list[tuple[int, int]] = []
    target = fetch(
        f"{base}/file.bin", tmp_path / "file.bin", good, lambda d, t: seen.append((d, t))
    )
    assert target.read_bytes() == b"x" * 5000 and seen[-1] == (5000, 5000)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        fetch(f"{base}/file.bin", tmp_path / "other.bin", "0" * 32)
    assert not (tmp_path / "other.bin").exists()
    assert not (tmp_path / "other.bin.part").exists()
    with pytest.raises(DatasetError, match=r"cannot download.*give its folder with --path"):
        fetch(f"{base}/missing.bin", tmp_path / "missing.bin")


def test_movielens_100k_downloads_once_from_a_mirror(
    http_server, tmp_path: Path, ml100k: Path, monkeypatch: pytest.MonkeyPatch
):
    base, root = http_server
    archive = root / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("u.item", "u.user", "u.data", "README"):
            zf.write(ml100k / name, f"ml-100k/{name}")
    # The publisher's md5 belongs to the publisher's zip; this mirror serves our own zip.
    spec = datasets.DATASETS["movielens-100k"]
    ours = datasets.Download(spec.downloads[0].url, hashlib.md5(archive.read_bytes()).hexdigest(),
                             "ml-100k")  # fmt: skip
    monkeypatch.setitem(datasets.DATASETS, "movielens-100k",
                        datasets.Dataset(**{**_fields(spec), "downloads": (ours,)}))  # fmt: skip
    settings = load_settings(home=tmp_path / "home", datasets_mirror=base)
    with Store.open(settings.effective_database_url) as store:
        reports = load_dataset("movielens-100k", store, settings)
        assert [r.stored for r in reports] == [1681, 943, 100_000]
        cached = settings.effective_datasets_dir / "movielens-100k"
        assert (cached / "u.data").read_bytes() == (ml100k / "u.data").read_bytes()
        archive.unlink()  # a second load must not download again
        assert [r.stored for r in load_dataset("movielens-100k", store, settings)] == [0, 0, 0]


def _fields(dataset: datasets.Dataset) -> dict:
    return {name: getattr(dataset, name) for name in dataset.__dataclass_fields__}
