# Creates the berth user and directories. A first install ($1 = 1) does not start berthd: the
# system is not configured until berth-setup has run. An upgrade ($1 = 2) restarts a running
# berthd on the new binary; configuration and data are left as they are.
if ! getent group berth >/dev/null; then
    groupadd --system berth
fi
if ! getent passwd berth >/dev/null; then
    useradd --system --gid berth --home-dir /var/lib/berth --no-create-home \
        --shell /usr/sbin/nologin --comment "Berth container registry" berth
fi
install -d -m 0750 -o root -g berth /etc/berth
install -d -m 0750 -o berth -g berth /var/lib/berth
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    if [ "$1" -gt 1 ]; then
        systemctl try-restart berthd.service >/dev/null 2>&1 || true
    fi
fi
if [ ! -e /etc/berth/configured ]; then
    echo "Berth is installed but not configured yet."
    echo "Run 'berth-setup' as root to choose the hostname, admin password, login and TLS."
fi
