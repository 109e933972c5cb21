#!/bin/sh
# prerm of vigil-host (deb: remove | upgrade NEW | deconfigure | failed-upgrade; rpm %preun: 0 erase,
# 1 upgrade). On removal: stop vigil-updater.service (and with it the agent) and disable it. An
# upgrade leaves the unit alone; postinst restarts it. Works against DPKG_ROOT.
set -e

root="${DPKG_ROOT:-}"
unit=vigil-updater.service
state=/var/lib/vigil

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl stop "$unit" || true
	if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
		systemctl disable "$unit" || true
		touch "$state/.unit-disabled-by-removal" 2>/dev/null || true
	fi
elif command -v systemctl >/dev/null 2>&1; then
	if systemctl --root="${root:-/}" is-enabled --quiet "$unit" 2>/dev/null; then
		systemctl --root="${root:-/}" disable "$unit" >/dev/null 2>&1 || true
		touch "$root$state/.unit-disabled-by-removal" 2>/dev/null || true
	fi
fi
exit 0
