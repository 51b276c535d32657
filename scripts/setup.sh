#!/usr/bin/env bash
# Set up mjray on a fresh Debian/Ubuntu machine: system packages, then a virtual environment at
# .venv with mjray installed in it (editable) and exactly the Python packages of
# requirements/lock.txt (hashed, the set CI tests). Safe to run again: it only installs what is
# missing or changed.
#
#   bash scripts/setup.sh                            # the locked set, into .venv
#   bash scripts/setup.sh --newest --venv .venv-newest   # the newest releases pyproject.toml allows
#
# --newest is what a user who installs mjray into an environment of their own gets;
# scripts/check-newest.sh runs the fast tests that way and says which packages moved.
# scripts/lock.sh writes the lock again (see it for how to move one package or all).
#
# System packages: GStreamer's RTSP server and Python bindings (the synthetic cameras of
# mjray.sim), cairo (tile artwork), OpenCV's GUI libraries, and Xvfb + xdotool (the tests
# open the display window on a virtual screen), Chromium (the web view's browser test drives it with
# Playwright; Playwright's own browser download is not used).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
MODE=locked
VENV=.venv
while (($#)); do
  case "$1" in
    --newest) MODE=newest ;;
    --venv) [ $# -ge 2 ] || { echo "setup: --venv needs a folder" >&2; exit 2; }; VENV=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

APT_PACKAGES=(
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gir1.2-gst-rtsp-server-1.0 python3-gi libcairo2
  libgl1 libglib2.0-0 xvfb xdotool chromium
)
PYTHON=${PYTHON:-python3}
LOCK=requirements/lock.txt
PINS=requirements/pins.txt

if [ "$MODE" = locked ]; then
  have="$("$PYTHON" -c 'import platform, sys; print(f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]} {platform.machine()}")')"
  if [ "$have" != "cpython 3.11 x86_64" ]; then
    echo "setup: $LOCK is for CPython 3.11 on x86_64 Linux, and $PYTHON is $have:" \
         "set PYTHON=python3.11, or set up against the newest releases with --newest" >&2
    exit 2
  fi
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip)

# Reinstall only when what decides the packages changed since the last successful setup.
stamp="$VENV/.mjray-setup"
want="$(cat pyproject.toml scripts/setup.sh "$LOCK" "$PINS" | sha256sum | cut -d' ' -f1) $MODE"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if [ "$MODE" = locked ]; then
    echo "setup: installing the locked Python packages into $VENV ($LOCK; torch is large: a few minutes the first time)"
    "${pip[@]}" install -q --require-hashes --no-deps -r "$LOCK"
    "${pip[@]}" install -q --no-deps --no-build-isolation -e .
    # A venv set up before keeps nothing the lock does not name.
    extra="$("$VENV/bin/python" -m tests.lockfile --not-in-lock)"
    if [ -n "$extra" ]; then
      echo "setup: removing packages the lock does not name: $extra"
      # shellcheck disable=SC2086
      "${pip[@]}" uninstall -q -y $extra
    fi
  else
    echo "setup: installing the newest releases pyproject.toml allows into $VENV (torch first; a few minutes the first time)"
    "${pip[@]}" install -q --upgrade pip
    "${pip[@]}" install -q -r "$PINS"
    "${pip[@]}" install -q --upgrade --upgrade-strategy eager -c "$PINS" -e '.[sim,test,dev]'
  fi
  "${pip[@]}" check >/dev/null || { "${pip[@]}" check >&2; echo "setup: the packages in $VENV do not fit together" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" \
  || { echo "setup: GStreamer RTSP server bindings do not load in /usr/bin/python3" >&2; exit 1; }
"$VENV/bin/python" -c "import mjray, ray, av, ultralytics, cv2, hydra" \
  || { echo "setup: mjray's Python packages do not import from $VENV" >&2; exit 1; }
echo "setup: ready ($VENV/bin/python, $MODE packages)"
