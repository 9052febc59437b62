#!/usr/bin/env bash
# Set up a kiosk or development machine (Debian 12, Python 3.11) from a clone of this repository:
# the Debian packages the kiosk needs, then a virtual environment in .venv with the project installed.
#   packaging/setup.sh          # runtime
#   packaging/setup.sh --test   # runtime + test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

# fonts-ocr-b: the OCR-B face of machine-readable zones (data-page rendering, OCR training and benchmark).
# fonts-dejavu-core / fonts-liberation: further faces for the synthetic data pages.
# libglib2.0-0: OpenCV's wheels link it. pcscd: the PC/SC service a chip reader talks through.
# The traveller kiosk (PySide6): fonts-noto-core / fonts-noto-ui-core, the pinned faces of its screens (Latin,
# Arabic); espeak-ng, its speech output; cage, the Wayland kiosk compositor of its session, and xwayland,
# without which Debian's cage refuses to start ("Cannot find Xwayland binary"); the rest, what Qt's wheels
# link (libwayland-cursor0 for its Wayland platform, EGL/GL, fontconfig, D-Bus, xkbcommon, and the xcb libraries
# of its X11 platform).
apt_packages=(fonts-ocr-b fonts-dejavu-core fonts-liberation libglib2.0-0 pcscd
    fonts-noto-core fonts-noto-ui-core espeak-ng cage xwayland libwayland-cursor0 libegl1 libgl1 libxkbcommon0
    libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-keysyms1 libxcb-icccm4 libxcb-image0 libxcb-render-util0
    libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0)
# For the tests: swig and libpcsclite-dev build pyscard; vsmartcard-vpcd gives the virtual reader that the
# software passport chip of the PC/SC tests answers on; poppler-utils (pdftoppm) renders the export's PDF
# report to images; postgresql is the upstream service's fleet database, which the upstream tests run against
# (a throw-away cluster, .ci/run and tests/upstream/pg_cluster.py); xvfb and x11-utils: the traveller kiosk full
# screen on an X server without a window manager (xwininfo); systemd: systemd-analyze checks the kiosk session unit;
# grim: screenshots of the kiosk session under a headless cage.
[ -n "$extras" ] && apt_packages+=(swig libpcsclite-dev vsmartcard-vpcd poppler-utils postgresql xvfb x11-utils systemd grim)
python=${PYTHON:-python3.11}
# Debian's own Python needs python3-venv to create the virtual environment.
"$python" -c "import ensurepip, venv" 2>/dev/null || apt_packages+=(python3-venv)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
# The traveller kiosk's translations: .qm compiled from the .ts sources of the repository.
.venv/bin/pyside6-lrelease -silent kiosk/ui/translations/*.ts
