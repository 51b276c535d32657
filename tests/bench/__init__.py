"""The benchmark: tests of mjray/bench/."""
