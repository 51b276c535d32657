"""Stage 3, order: a reorder actor per seat emits its results strictly by seq, gaps named, and the
seats are brought together in capture time."""
