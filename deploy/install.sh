#!/bin/sh
# Vigil one-line host install, served by vigil-server at GET /install.sh. Read it before you run it.
# `vigilctl enroll create-token` prints the line that runs it; docs/install.md explains the chain:
#   TLS        every download pins the server's public key (--pubkey, curl --pinnedpubkey);
#              the updater later pins the server's CA (--ca-sha256).
#   root       the TUF root must have the SHA-256 the operator's vigilctl verified (--root-sha256).
#   updater    vigil-updater must have the SHA-256 of its signed target (--updater-sha256-ARCH),
#              checked before anything is written; on a mismatch nothing is installed.
#   agent      `vigil-updater install` verifies it with TUF from that root.
# Usage: install.sh --server URL --token T --ca-sha256 HEX --pubkey B64 --root-version N
#          --root-sha256 HEX --updater-version V --updater-sha256-amd64 HEX --updater-sha256-arm64 HEX
#        install.sh --uninstall [--keep-data]
# Both take --root DIR (or VIGIL_INSTALL_ROOT): install into DIR (an image; tests). Under a root,
# or when not run as root, no user is created and systemd is only enabled offline.
# Safe to run again: it repairs or upgrades the updater; the installed agent is the updater's.
set -eu

root=${VIGIL_INSTALL_ROOT:-}
server='' token='' ca='' pubkey='' rootver='' rootsha='' uver='' usha_amd64='' usha_arm64=''
action=install keep=''
unit=vigil-updater.service

die() { echo "install.sh: $*" >&2; exit 1; }
need() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
	case "$1" in
	--server) need "$@"; server=${2%/}; shift ;;
	--token) need "$@"; token=$2; shift ;;
	--ca-sha256) need "$@"; ca=$2; shift ;;
	--pubkey) need "$@"; pubkey=$2; shift ;;
	--root-version) need "$@"; rootver=$2; shift ;;
	--root-sha256) need "$@"; rootsha=$2; shift ;;
	--updater-version) need "$@"; uver=$2; shift ;;
	--updater-sha256-amd64) need "$@"; usha_amd64=$2; shift ;;
	--updater-sha256-arm64) need "$@"; usha_arm64=$2; shift ;;
	--root) need "$@"; root=${2%/}; shift ;;
	--uninstall) action=uninstall ;;
	--keep-data) keep=1 ;;
	*) die "unknown argument: $1" ;;
	esac
	shift
done

# A system user is made (and removed) only on the real system, as root.
manage_user=''
[ -z "$root" ] && [ "$(id -u)" = 0 ] && manage_user=1
systemd=''
[ -z "$root" ] && [ -d /run/systemd/system ] && systemd=1

uninstall() {
	if [ -n "$systemd" ]; then
		systemctl disable --now "$unit" >/dev/null 2>&1 || true
	elif command -v systemctl >/dev/null 2>&1; then
		systemctl --root="${root:-/}" disable "$unit" >/dev/null 2>&1 || true
	fi
	rm -f "$root/etc/systemd/system/$unit" "$root/etc/vigil/updater.env" "$root/etc/vigil/root.json"
	rm -f "$root/opt/vigil/bin/vigil-updater" "$root/opt/vigil/bin/.vigil-updater.old" "$root/opt/vigil/bin/.vigil-updater.new"
	rmdir "$root/opt/vigil/bin" "$root/opt/vigil" "$root/etc/vigil" 2>/dev/null || true
	[ -n "$systemd" ] && { systemctl daemon-reload || true; }
	# Under an install root, also the directories a real system always has.
	if [ -n "$root" ]; then
		rmdir "$root/etc/systemd/system" "$root/etc/systemd" "$root/opt" 2>/dev/null || true
	fi
	if [ -z "$keep" ]; then
		rm -rf "$root/var/lib/vigil"
		# Nothing owned by the user is left (the unit lets it write only there): safe to delete.
		if [ -n "$manage_user" ] && getent passwd vigil >/dev/null; then userdel vigil || true; fi
		[ -n "$root" ] && { rmdir "$root/var/lib" "$root/var" 2>/dev/null || true; }
	fi
	[ -n "$root" ] && { rmdir "$root/etc" 2>/dev/null || true; }
	return 0
}
if [ "$action" = uninstall ]; then
	uninstall
	echo "Vigil removed${keep:+ (kept /var/lib/vigil and the user vigil)}."
	exit 0
fi

hex64() { printf '%s' "$1" | grep -Eq '^[0-9a-f]{64}$' || die "$2 must be 64 lowercase hex digits"; }
case "$server" in https://*) ;; *) die "--server must be an https:// URL" ;; esac
printf '%s' "$server" | grep -Eq '^https://[]A-Za-z0-9.:[-]+$' || die "--server: not a base URL: $server"
printf '%s' "$token" | grep -Eq '^vge_[A-Za-z0-9_-]+$' || die "--token must be an enrollment token (vge_…)"
printf '%s' "$pubkey" | grep -Eq '^[A-Za-z0-9+/]{43}=$' || die "--pubkey must be a base64 SHA-256"
printf '%s' "$rootver" | grep -Eq '^[1-9][0-9]*$' || die "--root-version must be a number"
printf '%s' "$uver" | grep -Eq '^[0-9][0-9A-Za-z.+-]*$' || die "--updater-version: not a version"
hex64 "$ca" --ca-sha256
hex64 "$rootsha" --root-sha256

case "$(uname -m)" in
x86_64 | amd64) arch=amd64 usha=$usha_amd64 ;;
aarch64 | arm64) arch=arm64 usha=$usha_arm64 ;;
*) die "unsupported architecture: $(uname -m)" ;;
esac
hex64 "$usha" "--updater-sha256-$arch"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# fetch PATH FILE SHA256: download over TLS pinned to the server's key; refuse another SHA-256.
fetch() {
	curl -fsS -k --proto =https --pinnedpubkey "sha256//$pubkey" --max-filesize 134217728 \
		--connect-timeout 10 --max-time 600 -o "$2" "$server$1" || die "download $server$1 failed"
	[ -z "$3" ] && return 0
	got=$(sha256sum "$2" | cut -d' ' -f1)
	[ "$got" = "$3" ] || die "refused $server$1: SHA-256 $got, the line says $3; nothing installed"
}
# Everything is downloaded and checked before anything is written.
fetch "/tuf/metadata/$rootver.root.json" "$tmp/root.json" "$rootsha"
fetch "/tuf/targets/vigil-updater/$uver/$usha.linux-$arch" "$tmp/vigil-updater" "$usha"
fetch "/install/$unit" "$tmp/$unit" ''
chmod 0755 "$tmp/vigil-updater"

fresh=1
[ -e "$root/opt/vigil/bin/vigil-updater" ] && fresh=''
if [ -n "$manage_user" ] && ! getent passwd vigil >/dev/null; then
	useradd --system --user-group --home-dir /nonexistent --no-create-home \
		--shell /usr/sbin/nologin --comment "Vigil agent" vigil
fi
umask 022
mkdir -p "$root/opt/vigil/bin" "$root/etc/vigil" "$root/var/lib/vigil" "$root/etc/systemd/system"
install -m 0755 "$tmp/vigil-updater" "$root/opt/vigil/bin/vigil-updater"
install -m 0644 "$tmp/root.json" "$root/etc/vigil/root.json"
install -m 0644 "$tmp/$unit" "$root/etc/systemd/system/$unit"
(
	umask 077
	cat >"$tmp/updater.env" <<EOF
# Written by install.sh; see docs/install.md. Settings of vigil-updater.service.
VIGIL_SERVER=$server
VIGIL_CA_FINGERPRINT=$ca
VIGIL_ENROLL_TOKEN=$token
VIGIL_TRUSTED_ROOT=/etc/vigil/root.json
EOF
)
install -m 0600 "$tmp/updater.env" "$root/etc/vigil/updater.env"
chmod 0750 "$root/var/lib/vigil"
[ -n "$manage_user" ] && chown root:vigil "$root/var/lib/vigil"

# The first agent, verified with TUF from the pinned root (skipped once one is installed).
if [ ! -e "$root/var/lib/vigil/current" ]; then
	if ! VIGIL_ENROLL_TOKEN=$token "$root/opt/vigil/bin/vigil-updater" install --server "$server" \
		--ca-fingerprint "$ca" --state-dir "$root/var/lib/vigil" --trusted-root "$root/etc/vigil/root.json"; then
		[ -n "$fresh" ] && uninstall
		[ -n "$fresh" ] && die "the first agent install failed (see above); nothing is left installed"
		die "the agent install failed (see above)"
	fi
fi

if [ -n "$systemd" ]; then
	systemctl daemon-reload
	systemctl enable "$unit"
	systemctl restart "$unit"
	echo "Vigil installed; vigil-updater.service is running (journalctl -u $unit)."
elif [ -n "$root" ] && command -v systemctl >/dev/null 2>&1; then
	systemctl --root="$root" enable "$unit"
	echo "Vigil installed into $root; $unit is enabled for its next boot."
else
	echo "Vigil installed. No systemd here: run, under your init system and as root,"
	echo "  /opt/vigil/bin/vigil-updater run --state-dir /var/lib/vigil  with the settings of /etc/vigil/updater.env"
fi
