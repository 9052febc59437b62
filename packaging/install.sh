#!/usr/bin/env bash
# Install the kiosk as a service on a Debian 12 machine (run as root from a clone of the repository):
# code and venv in /opt/egate, configuration and keys in /etc/egate, data in /var/lib/egate.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"

id egate >/dev/null 2>&1 || useradd --system --home-dir /var/lib/egate --shell /usr/sbin/nologin egate
install -d -o root -g root -m 0755 /opt/egate
install -d -o root -g egate -m 0750 /etc/egate
install -d -o egate -g egate -m 0750 /var/lib/egate

cp -a "$src/." /opt/egate/
rm -rf /opt/egate/.venv
/opt/egate/packaging/setup.sh

[ -f /etc/egate/kiosk.toml ] || install -o root -g egate -m 0640 "$src/packaging/kiosk.example.toml" \
    /etc/egate/kiosk.toml
if [ ! -f /etc/egate/log.key ]; then
    /opt/egate/.venv/bin/kiosk keygen /etc/egate/log.key
    chown root:egate /etc/egate/log.key
    chmod 0640 /etc/egate/log.key
fi

install -m 0644 "$src"/packaging/systemd/egate-*.service "$src"/packaging/systemd/egate-*.timer \
    /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now egate-purge.timer
echo "Installed. Edit /etc/egate/kiosk.toml (devices, store.path under /var/lib/egate, trust store), then:"
echo "  systemctl enable --now egate-kiosk.service"
