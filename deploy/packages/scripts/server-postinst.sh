#!/bin/sh
# postinst of vigil-server (deb: "configure OLD-VERSION"; rpm %post: 1 install, 2 upgrade).
# Creates the system user "vigil-server", gives /var/lib/vigil-server to it (0700: the store, the
# admin token, TLS and online TUF keys live there) and enables vigil-server.service. It does not
# start a fresh install: set VIGIL_PUBLIC_URL first, the self-made certificate is issued for it.
# Idempotent, and works against an install root: DPKG_ROOT (dpkg --root --force-script-chrootless).
set -e

root="${DPKG_ROOT:-}"
user=vigil-server
unit=vigil-server.service
state=/var/lib/vigil-server

case "$1" in
configure | 1 | 2) ;;
*) exit 0 ;;
esac

# has ENTRY DATABASE: whether passwd/group DATABASE has ENTRY (in the install root if there is one).
has() {
	if [ -n "$root" ]; then
		grep -q "^$1:" "$root/etc/$2" 2>/dev/null
	else
		getent "$2" "$1" >/dev/null
	fi
}

# id_of NAME DATABASE: the numeric id of NAME (chown must not resolve names on the wrong system).
id_of() {
	if [ -n "$root" ]; then
		awk -F: -v n="$1" '$1 == n { print $3; exit }' "$root/etc/$2"
	else
		getent "$2" "$1" | cut -d: -f3
	fi
}

if ! has "$user" passwd; then
	group=--user-group
	if has "$user" group; then
		group="--gid=$user"
	fi
	if [ -n "$root" ]; then
		useradd --prefix "$root" --system "$group" --home-dir "$state" --no-create-home \
			--shell /usr/sbin/nologin --comment "Vigil server" "$user"
	else
		useradd --system "$group" --home-dir "$state" --no-create-home \
			--shell /usr/sbin/nologin --comment "Vigil server" "$user"
	fi
fi

# Honour a dpkg-statoverride the administrator set on the state directory.
if ! command -v dpkg-statoverride >/dev/null 2>&1 ||
	! dpkg-statoverride --root "${root:-/}" --list "$state" >/dev/null 2>&1; then
	chown "$(id_of "$user" passwd):$(id_of "$user" group)" "$root$state"
	chmod 0700 "$root$state"
fi

# Enable on a first install, and on a reinstall after a removal disabled the unit (deb passes the
# last configured version then); an upgrade keeps the administrator's choice.
fresh=
case "$1" in
configure) [ -z "${2:-}" ] && fresh=1 ;;
1) fresh=1 ;;
esac
if [ -e "$root$state/.unit-disabled-by-removal" ]; then
	fresh=1
	rm -f "$root$state/.unit-disabled-by-removal"
fi

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ -n "$fresh" ]; then
		systemctl enable "$unit" || true
		echo "vigil-server: set VIGIL_PUBLIC_URL (and mail, database) in /etc/vigil/server.env, then: systemctl start $unit"
	else
		systemctl try-restart "$unit" || true
	fi
elif [ -n "$fresh" ] && command -v systemctl >/dev/null 2>&1; then
	# No running systemd (an image being built, a chroot): enable offline for the next boot.
	systemctl --root="${root:-/}" enable "$unit" >/dev/null 2>&1 || true
fi
exit 0
