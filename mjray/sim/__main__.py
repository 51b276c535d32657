"""`python -m mjray.sim`: render a synthetic table and serve it as RTSP cameras.

python -m mjray.sim serve --seats 4 --fps 15 --size 1280x720     # until Ctrl-C
python -m mjray.sim render --size 640x360                         # files + ground truth only
python -m mjray.sim score --size 640x360 --frames 200             # the tile model vs the truth
python -m mjray.sim score-game outputs/2026-11-26/10-00-00        # a run's game record vs the game
python -m mjray.sim faces --out mjray/mahjong/data/tile_faces.npz         # the bundled tile faces (plugins.mahjong.faces)
python -m mjray.sim layout --scene parlour --out layout.png               # the calibration layout (python -m mjray.calibrate)
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from mjray.sim.server import RtspServer
from mjray.sim.table import SPEC_FILE, RenderedTable, TableSpec, parse_size, read_spec, render_table, seat_names


def _spec(args: argparse.Namespace) -> TableSpec:
    width, height = parse_size(args.size)
    if args.fps < 1 or args.fps > 120:
        raise ValueError(f"--fps must be within 1..120, got {args.fps}")
    if args.seconds < 2:
        raise ValueError(f"--seconds must be at least 2 (the loop length), got {args.seconds}")
    return TableSpec(
        seats=seat_names(args.seats),
        width=width,
        height=height,
        fps=args.fps,
        seconds=args.seconds,
        seed=args.seed,
        scene=args.scene,
        gaps=_gaps(args.gaps),
        slid=args.slid,
        orders=tuple(args.orders.split(",")),
        unsorted=args.unsorted,
    )


def _gaps(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--gaps {text!r} is not tiles separated by commas, e.g. 0,0.35,1") from None


def _describe(table: RenderedTable) -> None:
    print(f"table {table.folder}")
    for seat in table.spec.seats:
        print(f"  {seat:6s} video {table.videos[seat]}  truth {table.truth[seat]}")


def serve(args: argparse.Namespace) -> int:
    table = render_table(_spec(args))
    _describe(table)
    server = RtspServer(
        table.videos, fps=table.spec.fps, host=args.host, port=args.port, patterns=("pattern",) if args.pattern else ()
    )
    server.start()
    print(
        f"serving {len(server.urls)} cameras, {table.spec.width}x{table.spec.height} at {table.spec.fps} fps, "
        f"looping every {table.spec.seconds:g} s; Ctrl-C stops"
    )
    for path, url in server.urls.items():
        print(f"  {path:7s} {url}")
    sys.stdout.flush()
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):  # installed explicitly: a background job starts with SIGINT ignored
        signal.signal(sig, lambda *_: stopping.append(True))
    try:
        while not stopping:
            if not server.running:
                print("RTSP server exited unexpectedly", file=sys.stderr)
                return 1
            time.sleep(0.2)
    finally:
        server.stop()
    return 0


def render(args: argparse.Namespace) -> int:
    _describe(render_table(_spec(args)))
    return 0


def score(args: argparse.Namespace) -> int:
    from mjray.sim.score import score_table

    scores = score_table(render_table(_spec(args)), frames=args.frames, seed=args.seed, faces_file=args.faces_file)
    print("the model alone:\n" + scores["model"].text())
    if scores["faces"].frames:
        print("\nits boxes relabelled by their faces:\n" + scores["relabel"].text())
        print(
            "\nand the tiles it missed in a row found by their faces (plugins.mahjong.faces, what a run reads):\n"
            + scores["faces"].text()
        )
    return 0


def score_game(args: argparse.Namespace) -> int:
    """A run's game record against the true game of the table it watched: the embedded table's
    spec is in the run folder (`table.json`); cameras served by `serve` take the same options."""
    import dataclasses
    import json
    from pathlib import Path

    from mjray.sim.game_score import score_run

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} not found: give the folder a run wrote its outputs to")
    if args.reread:
        from mjray.sim.game_score import reread

        reread(run_dir, run_dir / "reread")
        run_dir = run_dir / "reread"
        print(f"hands and events read anew from the run's detections into {run_dir}")
    spec = read_spec(run_dir) if (run_dir / SPEC_FILE).exists() else _spec(args)
    report = score_run(run_dir, spec.game(), spec.seconds, spec.fps, spec.seats)
    (run_dir / "game_score.json").write_text(
        json.dumps({"table": dataclasses.asdict(spec), **report.to_dict()}, indent=1)
    )
    print(
        f"game record of {run_dir} against the table's game ({len(spec.seats)} seats, {spec.width}x{spec.height}, "
        f"seed {spec.seed}, loop {spec.seconds:g} s); figures also in {run_dir / 'game_score.json'}"
    )
    print(report.text())
    return 0


def detect_table(args: argparse.Namespace) -> int:
    """The tile model on a rendered table's frames, written as a run folder (no cameras, no Ray)."""
    from pathlib import Path

    from mjray.sim.game_score import detect_table as detect

    detect(
        render_table(_spec(args)),
        Path(args.out),
        every=args.every,
        faces=not args.no_faces,
        faces_memory=not args.no_faces_memory,
        progress=lambda text: print(text, flush=True),
        faces_file=args.faces_file,
    )
    print(f"run folder {args.out}: score it with `python -m mjray.sim score-game {args.out} --reread`")
    return 0


def layout(args: argparse.Namespace) -> int:
    """One tile of each kind face up in four rows, as a seat camera sees it, to try `python -m mjray.calibrate` on."""
    import cv2

    from mjray.sim.layout import render_layout
    from mjray.sim.table import parse_size

    width, height = parse_size(args.size)
    missing = [t for t in args.missing.split(",") if t]
    picture, boxes = render_layout(width, height, args.scene, args.seed, missing, args.glare)
    if not cv2.imwrite(args.out, picture):
        raise ValueError(
            f"--out {args.out}: cannot write a picture there (a .png or .jpg path in a folder that exists)"
        )
    print(f"{args.out}: {len(boxes)} tiles, {width}x{height}, scene {args.scene}, seed {args.seed}")
    return 0


def faces(args: argparse.Namespace) -> int:
    """The faces file `mjray.mahjong.faces` matches boxes against, from the public-domain artwork."""
    from pathlib import Path

    from mjray.sim.tiles import write_faces

    write_faces(Path(args.out))
    print(f"faces of the 34 tiles written to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from mjray.sim.render import SCENES

    parser = argparse.ArgumentParser(prog="python -m mjray.sim", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("serve", serve, "render (or reuse) a table and serve it over RTSP until Ctrl-C"),
        ("render", render, "render a table's videos and ground truth into the cache"),
        ("score", score, "score the mahjong-detector tile model against a table's ground truth"),
        ("score-game", score_game, "score a run's game record (game.jsonl, hands.jsonl) against the table's game"),
        ("detect-table", detect_table, "the tile model on every Nth frame of a table, as a run folder to score"),
        ("faces", faces, "write the tile faces file (plugins.mahjong.faces) from the artwork"),
        ("layout", layout, "a seat camera's picture of the calibration layout (python -m mjray.calibrate)"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(func=func)
        if name == "faces":
            sub.add_argument(
                "--out", required=True, help="the .npz to write (mjray/mahjong/data/tile_faces.npz is the bundled one)"
            )
            continue
        if name == "score-game":
            sub.add_argument("run_dir", help="the run's output folder (display.output_dir, or Hydra's outputs/...)")
            sub.add_argument(
                "--reread",
                action="store_true",
                help="read the hands anew from the run's detections.jsonl (into <run_dir>/reread) first",
            )
        if name == "detect-table":
            sub.add_argument("--out", required=True, help="the folder to write")
            sub.add_argument("--every", type=int, default=4, help="infer every Nth frame (4: 3.75 a second at 15 fps)")
            sub.add_argument(
                "--no-faces", action="store_true", help="the model's labels alone (plugins.mahjong.faces=false)"
            )
            sub.add_argument(
                "--no-faces-memory",
                action="store_true",
                help="every box's face read afresh (plugins.mahjong.faces_memory=false)",
            )
        sub.add_argument("--seats", type=int, default=4, help="number of cameras (1..8)")
        sub.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of every camera")
        sub.add_argument("--fps", type=int, default=15, help="frames per second")
        sub.add_argument("--seconds", type=float, default=60.0, help="loop length in seconds")
        sub.add_argument("--seed", type=int, default=0, help="seed of the game and the scene")
        sub.add_argument(
            "--scene",
            default="table",
            choices=list(SCENES),
            help="the look: table (tuned on), parlour (held out: smaller tiles, dim warm light) or homemade "
            "(held out: another artwork, drawn by code)",
        )
        if name != "layout":
            sub.add_argument(
                "--gaps",
                default="0.35",
                help="tiles a drawn tile lies apart from the hand by, comma-separated, one drawn per turn (0: against it)",
            )
            sub.add_argument(
                "--slid",
                type=float,
                default=0.0,
                help="the chance that a drawn tile is slid into the hand where it sorts",
            )
            sub.add_argument(
                "--unsorted",
                type=float,
                default=0.0,
                help="the chance that a drawn tile kept is left at the hand's right end, sorted in later",
            )
            sub.add_argument(
                "--orders",
                default="mpsz",
                help="the order each seat keeps its suits in, comma-separated, seat by seat (e.g. mpsz,zmps,spmz)",
            )
        if name == "serve":
            sub.add_argument("--host", default="127.0.0.1", help="address to listen on")
            sub.add_argument("--port", type=int, default=8554, help="RTSP port (0 picks a free one)")
            sub.add_argument("--pattern", action="store_true", help="also serve a live test pattern at /pattern")
        if name == "score":
            sub.add_argument("--frames", type=int, default=200, help="frames to score, drawn at random")
        if name in ("score", "detect-table"):
            sub.add_argument(
                "--faces-file", help="tile faces of one's own (python -m mjray.calibrate); default: bundled"
            )
        if name == "layout":
            sub.add_argument("--out", required=True, help="the picture to write (.png)")
            sub.add_argument("--missing", default="", help="tiles left out, comma-separated (e.g. 5p)")
            sub.add_argument("--glare", type=float, default=0.0, help="a lamp's reflection, 0..1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
