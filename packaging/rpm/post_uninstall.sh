# RPM has no purge: an erase keeps /etc/berth and /var/lib/berth (the images and database) and
# the berth user. Remove them by hand to start again:
#   rm -rf /etc/berth /var/lib/berth && userdel berth
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
