#!/bin/sh
# postrm of vigil-host (deb: remove | purge | upgrade | failed-upgrade | abort-*; rpm %postun: 0 erase,
# 1 upgrade). remove keeps the configuration (/etc/vigil) and the state (/var/lib/vigil: the agent's
# credential and spool, installed versions, the TUF cache), so a reinstall picks up where it was;
# purge deletes them. The system user "vigil" is kept even on purge, as Debian advises: a uid
# reused by a later account would inherit files the agent left anywhere. Works against DPKG_ROOT.
set -e

root="${DPKG_ROOT:-}"

case "$1" in
remove | purge | 0)
	# Files the updater made beside its binary while updating itself (minio/selfupdate).
	rm -f "$root/opt/vigil/bin/.vigil-updater.old" "$root/opt/vigil/bin/.vigil-updater.new"
	rmdir "$root/opt/vigil/bin" "$root/opt/vigil/lib" "$root/opt/vigil" 2>/dev/null || true
	;;
esac

if [ "$1" = purge ]; then
	rm -rf "$root/var/lib/vigil"
	rm -f "$root/etc/vigil/ca.pem" "$root/etc/vigil/root.json"
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
