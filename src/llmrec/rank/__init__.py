"""Second stage: features of (user, candidate) pairs, the learned ranker, diversity."""
