#!/usr/bin/env bash
# Install the kiosk as a service on a Debian 12 machine (run as root from a clone of the repository):
# code and venv in /opt/egate, configuration and keys in /etc/egate, data in /var/lib/egate.
#
# Tests install into a folder instead of / with EGATE_ROOT=DIR: then the service account is EGATE_USER /
# EGATE_GROUP (default: egate), files owned by root are owned by the caller, the kiosk command is
# EGATE_KIOSK, and the system steps (useradd, building the venv, systemctl) are skipped.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
root="${EGATE_ROOT:-}"
user="${EGATE_USER:-egate}"
group="${EGATE_GROUP:-$user}"
admin=root
[ -z "$root" ] || admin="$(id -un)"
kiosk="${EGATE_KIOSK:-$root/opt/egate/.venv/bin/kiosk}"

if [ -z "$root" ]; then
    id "$user" >/dev/null 2>&1 || useradd --system --home-dir /var/lib/egate --shell /usr/sbin/nologin "$user"
fi
install -d -o "$admin" -m 0755 "$root/opt/egate"
install -d -o "$admin" -g "$group" -m 0750 "$root/etc/egate"
install -d -o "$user" -g "$group" -m 0750 "$root/var/lib/egate"

cp -a "$src/." "$root/opt/egate/"
rm -rf "$root/opt/egate/.venv"
[ -n "$root" ] || /opt/egate/packaging/setup.sh

[ -f "$root/etc/egate/kiosk.toml" ] || install -o "$admin" -g "$group" -m 0640 \
    "$src/packaging/kiosk.example.toml" "$root/etc/egate/kiosk.toml"
if [ ! -f "$root/etc/egate/log.key" ]; then
    # The service reads the key as its own user, and the key loader refuses a key readable by anyone else:
    # owner egate, mode 0600 (kiosk keygen writes 0600).
    "$kiosk" keygen "$root/etc/egate/log.key"
    chown "$user:$group" "$root/etc/egate/log.key"
fi

install -d "$root/etc/systemd/system"
install -m 0644 "$src"/packaging/systemd/egate-*.service "$src"/packaging/systemd/egate-*.timer \
    "$root/etc/systemd/system/"
# The traveller kiosk session's PAM stack (egate-traveller.service: Cage on tty1).
install -d "$root/etc/pam.d"
install -m 0644 "$src/packaging/pam/egate-traveller" "$root/etc/pam.d/egate-traveller"
if [ -z "$root" ]; then
    systemctl daemon-reload
    systemctl enable --now egate-purge.timer
fi
echo "Installed. Edit $root/etc/egate/kiosk.toml (devices, store.path under /var/lib/egate, trust store,"
echo "watchlist), create the watchlist store (matcher watchlist --store ... create), then:"
echo "  systemctl enable --now egate-kiosk.service       # headless, or with a screen ([ui] mode = \"window\"):"
echo "  systemctl enable --now egate-traveller.service    # the traveller kiosk full screen in Cage on tty1"
