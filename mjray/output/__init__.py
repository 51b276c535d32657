"""Stage 4, the outputs: the driver loop feeds every sink (JSONL, video, window, web view) and
sums up the run."""
