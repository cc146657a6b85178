"""Natural-language requests: does the LLM's parse add value over raw-text search?

    python benchmarks/chat.py [--dataset movielens-100k|lastfm-2k] [--data ../shared/data] [--k 5]

40 requests against the MovieLens-100K catalogue (and 10 against Last.fm's artists with
``--dataset lastfm-2k``), each with the properties its answers must have (a wanted genre
or tag, an excluded one, a period, the referenced film itself left out). For each request, the fraction of the top-k that satisfies all of them, with the
embedded model's parse and with the parse disabled (embedding search over the raw text,
the fallback); plus latency per request with the model (p50/p95) and how often the parse
was usable. Prints a table and the requests where the two differ most.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from llmrec.chat import Catalogue, ChatSession
from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.embed import load_encoder
from llmrec.llm import load_llm
from llmrec.llm.cache import CachedLLM
from llmrec.store import Store
from llmrec.training import item_vector_frame

REPO = Path(__file__).resolve().parents[1]
console = Console(width=140)

# (request, wanted genres (any), forbidden genres, year_min, year_max, referenced title)
REQUESTS = [
    ("a funny comedy for tonight", ["Comedy"], [], None, None, None),
    ("a scary horror film", ["Horror"], [], None, None, None),
    ("an animated film for kids", ["Animation", "Children's"], [], None, None, None),
    ("a romantic film but no comedy", ["Romance"], ["Comedy"], None, None, None),
    ("a war film", ["War"], [], None, None, None),
    ("a western with cowboys", ["Western"], [], None, None, None),
    ("a documentary", ["Documentary"], [], None, None, None),
    ("a musical with songs", ["Musical"], [], None, None, None),
    ("science fiction in space", ["Sci-Fi"], [], None, None, None),
    ("a crime thriller", ["Crime", "Thriller"], [], None, None, None),
    ("a mystery to solve", ["Mystery"], [], None, None, None),
    ("a film noir", ["Film-Noir"], [], None, None, None),
    ("a fantasy adventure", ["Fantasy", "Adventure"], [], None, None, None),
    ("an action film without violence against kids, no horror", ["Action"], ["Horror"], None, None, None),
    ("a drama, not a war film", ["Drama"], ["War"], None, None, None),
    ("a comedy from the 1980s", ["Comedy"], [], 1980, 1989, None),
    ("a horror film from the 1970s", ["Horror"], [], 1970, 1979, None),
    ("a western made before 1960", ["Western"], [], None, 1959, None),
    ("a sci-fi film from the 1990s", ["Sci-Fi"], [], 1990, 1999, None),
    ("a musical from the 1950s", ["Musical"], [], 1950, 1959, None),
    ("a thriller but no horror please", ["Thriller"], ["Horror"], None, None, None),
    ("a children's film, nothing scary, no horror", ["Children's"], ["Horror"], None, None, None),
    ("a romance without drama", ["Romance"], ["Drama"], None, None, None),
    ("an adventure, but not animated", ["Adventure"], ["Animation"], None, None, None),
    ("a crime film, no thriller", ["Crime"], ["Thriller"], None, None, None),
    ("something like Toy Story (1995)", ["Animation", "Children's", "Comedy"], [], None, None, "Toy Story (1995)"),
    ("something like Star Wars (1977)", ["Sci-Fi", "Action", "Adventure"], [], None, None, "Star Wars (1977)"),
    ("a film like Fargo (1996)", ["Crime", "Thriller", "Drama"], [], None, None, "Fargo (1996)"),
    ("like The Shining but newer, after 1990", ["Horror"], [], 1990, None, "Shining, The (1980)"),
    ("films like Casablanca (1942)", ["Romance", "Drama", "War"], [], None, None, "Casablanca (1942)"),
    ("something like Aladdin (1992) but no musical", ["Animation", "Children's", "Comedy"], ["Musical"], None, None, "Aladdin (1992)"),
    ("like Heat (1995), a crime action film", ["Crime", "Action"], [], None, None, "Heat (1995)"),
    ("like Alien (1979)", ["Sci-Fi", "Horror", "Thriller", "Action"], [], None, None, "Alien (1979)"),
    ("like Pulp Fiction (1994)", ["Crime", "Drama"], [], None, None, "Pulp Fiction (1994)"),
    ("something like Babe (1995)", ["Children's", "Comedy", "Drama"], [], None, None, "Babe (1995)"),
    ("想看轻松的喜剧，不要恐怖片", ["Comedy"], ["Horror"], None, None, None),
    ("一部关于战争的电影", ["War"], [], None, None, None),
    ("给孩子看的动画片", ["Animation", "Children's"], [], None, None, None),
    ("une comédie romantique", ["Comedy", "Romance"], [], None, None, None),
    ("eine Dokumentation", ["Documentary"], [], None, None, None),
]
# Last.fm artists (their most used tags): wanted tags (any), forbidden tags.
LASTFM_REQUESTS = [
    ("upbeat indie music for running", ["indie", "indie rock", "indie pop"], [], None, None, None),
    ("heavy metal, loud", ["heavy metal", "metal"], [], None, None, None),
    ("relaxing jazz", ["jazz", "smooth jazz"], [], None, None, None),
    ("electronic dance music but no techno", ["electronic", "dance", "house"], ["techno"], None, None, None),
    ("classic rock bands", ["classic rock"], [], None, None, None),
    ("hip hop, not pop", ["hip-hop", "hip hop", "rap"], ["pop"], None, None, None),
    ("punk rock", ["punk", "punk rock"], [], None, None, None),
    ("female vocalists singing pop", ["female vocalists", "pop"], [], None, None, None),
    ("ambient music to study", ["ambient", "chillout"], [], None, None, None),
    ("想听爵士乐", ["jazz"], [], None, None, None),
]


def satisfied(results, catalogue: Catalogue, wanted, forbidden, year_min, year_max, reference):
    rows = catalogue.item_ids.get_indexer(results["item_id"])
    ok = []
    for row in rows:
        tags, year = set(catalogue.tags[row]), catalogue.years[row]
        good = (not wanted or bool(tags & set(wanted))) and not (tags & set(forbidden))
        good &= year_min is None or (np.isfinite(year) and year >= year_min)
        good &= year_max is None or (np.isfinite(year) and year <= year_max)
        good &= reference is None or catalogue.titles[row] != reference
        ok.append(good)
    return float(np.mean(ok)) if ok else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--home", type=Path, default=None, help=".llmrec-bench/<dataset>")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--dataset", choices=["movielens-100k", "lastfm-2k"], default="movielens-100k")
    args = parser.parse_args()
    home = args.home or REPO / ".llmrec-bench" / args.dataset
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home=home)
    store = Store.open(settings.effective_database_url)
    folder = {"movielens-100k": "ml-100k", "lastfm-2k": "hetrec2011-lastfm-2k"}[args.dataset]
    if store.counts().get("events", 0) == 0:
        load_dataset(args.dataset, store, settings, args.data / folder)
    requests = REQUESTS if args.dataset == "movielens-100k" else LASTFM_REQUESTS
    catalogue = Catalogue.from_frames(store.items_frame(), item_vector_frame(store, settings))
    scores = {"LLM parse": [], "raw text": []}
    seconds, usable, rows = [], 0, []
    with load_encoder(settings.embed) as encoder, load_llm(settings.llm) as llm:
        cached = CachedLLM(llm, store)
        for request, *expected in requests:
            t = time.perf_counter()
            turn = ChatSession(catalogue, encoder, cached, k=args.k).ask(request)
            seconds.append(time.perf_counter() - t)
            usable += not turn.fallback
            raw = ChatSession(catalogue, encoder, None, k=args.k, rules=False).ask(request)
            with_llm = satisfied(turn.results, catalogue, *expected)
            without = satisfied(raw.results, catalogue, *expected)
            scores["LLM parse"].append(with_llm)
            scores["raw text"].append(without)
            rows.append((with_llm - without, request, turn.log()["query"]))
    table = Table(title=f"Natural-language requests on {args.dataset} ({len(requests)} requests)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, values in scores.items():
        table.add_row(f"top-{args.k} satisfying the request, {name}", f"{np.mean(values):.1%}")
    ms = np.array(seconds) * 1000
    table.add_row("latency with the model p50 / p95 (ms; cached answers are faster)",
                  f"{np.median(ms):.0f} / {np.percentile(ms, 95):.0f}")  # fmt: skip
    table.add_row("parse usable (grounded, not empty)", f"{usable}/{len(requests)}")
    table.add_row("LLM calls made now / answered from the cache", f"{cached.calls} / {cached.hits}")
    console.print(table)
    for gain, request, query in sorted(rows, key=lambda r: -abs(r[0]))[:8]:
        console.print(f"{gain:+.0%}  {request}  →  {query}")


if __name__ == "__main__":
    main()
