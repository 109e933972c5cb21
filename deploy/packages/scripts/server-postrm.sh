#!/bin/sh
# postrm of vigil-server (deb: remove | purge | upgrade | failed-upgrade | abort-*; rpm %postun:
# 0 erase, 1 upgrade). remove keeps /etc/vigil/server.env and /var/lib/vigil-server (the store,
# the admin token, TLS and online TUF keys, the release repository); purge deletes them. The system
# user "vigil-server" is kept even on purge, as Debian advises: a uid reused by a later account
# would inherit files (backups, a PostgreSQL socket peer) made by this one. Works against DPKG_ROOT.
set -e

root="${DPKG_ROOT:-}"

if [ "$1" = purge ]; then
	rm -rf "$root/var/lib/vigil-server"
	rmdir "$root/etc/vigil" 2>/dev/null || true
fi

case "$1" in
remove | purge | 0)
	if [ -z "$root" ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	;;
esac
exit 0
