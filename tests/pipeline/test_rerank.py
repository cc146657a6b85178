import numpy as np

from llmrec.pipeline.rerank import pick, popular_fallback, push_down_disliked, ranked_list
from llmrec.rank.lists import RankedList

VECTORS = np.array([[1, 0], [0.96, 0.28], [0, 1], [0.6, 0.8]], np.float32)


def test_what_resembles_a_dislike_goes_down_the_rest_keeps_its_score():
    value = np.array([1.0, 0.9, 0.5])
    lowered = push_down_disliked(np.array([1, 2, 3]), value, [0], VECTORS, penalty=0.5)
    assert lowered[0] < value[0] and lowered[1] == value[1]  # item 2 is orthogonal to 0
    assert lowered[0] < lowered[1]  # item 1 is almost item 0: below the orthogonal one
    assert (push_down_disliked(np.array([1, 2]), value[:2], [], VECTORS, 0.5) == value[:2]).all()
    assert (push_down_disliked(np.array([1, 2]), value[:2], [0], None, 0.5) == value[:2]).all()


def test_a_ranked_list_is_best_first_ties_to_what_is_popular_now():
    items = np.array([0, 1, 2, 3])
    value = np.array([0.5, 0.9, 0.5, 0.1])
    ranked = ranked_list(items, value, np.arange(4, dtype=np.uint16), np.array([3, 2, 0, 1]), 3)
    assert ranked.items.tolist() == [1, 2, 0]  # 2 and 0 tie: 2 is more popular now
    assert ranked.sources.tolist() == [1, 2, 0]


def test_a_user_with_nothing_to_rank_gets_the_usable_items_by_popularity():
    items, value, proposers = popular_fallback(np.array([True, False, True]), np.array([1, 5, 3]))
    assert items.tolist() == [0, 2] and value.tolist() == [1, 3] and not proposers.any()


def test_pick_takes_the_best_or_a_diverse_choice_among_the_best_3k():
    ranked = RankedList(np.array([0, 1, 2, 3], np.int32), np.array([0.9, 0.8, 0.5, 0.4], np.float32),
                        np.zeros(4, np.uint16))  # fmt: skip
    assert pick(ranked, 2, 0.0, VECTORS).items.tolist() == [0, 1]
    assert pick(ranked, 2, 0.9, VECTORS).items.tolist() == [0, 2]  # 1 is almost 0
    assert pick(ranked, 2, 0.9, None).items.tolist() == [0, 1]  # no vectors, no MMR
