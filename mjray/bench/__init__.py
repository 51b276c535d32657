"""Benchmark: mjray against the original multiprocessing design and Ultralytics' multi-stream mode,
all fed the same RTSP cameras, measured from the frame-index markers in what each one shows."""
