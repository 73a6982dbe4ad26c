# On erase ($1 = 0), stop berthd; an upgrade leaves it to the new package's scriptlet.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl stop berthd.service "berth-firstboot@*.service" >/dev/null 2>&1 || true
    systemctl disable berthd.service berth-firstboot@tty1.service berth-firstboot@ttyS0.service >/dev/null 2>&1 || true
fi
