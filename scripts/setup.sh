#!/usr/bin/env bash
# Set up mjray on a fresh Debian/Ubuntu machine: system packages, then a virtual environment at
# .venv with mjray installed in it (editable) and its test tools. Safe to run again: it only
# installs what is missing or changed.
#
#   bash scripts/setup.sh
#
# System packages: GStreamer's RTSP server and Python bindings (the synthetic cameras of
# mjray.sim), cairo (tile artwork), OpenCV's GUI libraries, and Xvfb + xdotool (the tests
# open the display window on a virtual screen), Chromium (the web view's browser test drives it with
# Playwright; Playwright's own browser download is not used). Python: torch/torchvision pinned to the releases on this
# machine's disk, then mjray with everything in pyproject.toml (its simulator and test extras too).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gir1.2-gst-rtsp-server-1.0 python3-gi libcairo2
  libgl1 libglib2.0-0 xvfb xdotool chromium
)
TORCH=(torch==2.14.1 torchvision==0.29.1)
PYTHON=${PYTHON:-python3}

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

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependency list changed since the last successful setup.
stamp=.venv/.mjray-setup
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv (torch first; a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "${TORCH[@]}"
  .venv/bin/python -m pip install -q -e '.[sim,test]'
  echo "$want" > "$stamp"
fi

/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" \
  || { echo "setup: GStreamer RTSP server bindings do not load in /usr/bin/python3" >&2; exit 1; }
.venv/bin/python -c "import mjray, ray, av, ultralytics, cv2, hydra" \
  || { echo "setup: mjray's Python packages do not import from .venv" >&2; exit 1; }
echo "setup: ready (.venv/bin/python)"
