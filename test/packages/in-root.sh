#!/bin/sh
# Runs one command with the package test's isolated root assembled (test/integration/packages.test.ts).
#
#   in-root.sh STATE COMMAND [ARG...]
#
# STATE/root is the root: mount points for usr, etc and var (and for any of bin, sbin, lib* that are
# real folders on this machine rather than links into usr), plain folders run/ and tmp/ of its own.
# In a private mount namespace each of those becomes a writable overlay of this machine's own
# folder, every change kept under STATE/upper/<folder> (STATE/work/<folder> is overlayfs's scratch
# space): the root is this Debian system as it is, and nothing done inside reaches the machine.
# /dev and /proc are bound in. COMMAND runs with LV_ROOT set to the root, typically
# `dpkg --root="$LV_ROOT" ...` or `chroot "$LV_ROOT" ...`. When it ends, every service the stand-in
# systemctl (test/packages/standin/systemctl) still runs is stopped, so the namespace goes away.
set -eu
state=$1
shift
[ "${LV_IN_ROOT_NS:-}" = 1 ] || LV_IN_ROOT_NS=1 exec unshare --mount --propagation private -- "$0" "$state" "$@"

root=$state/root
for d in usr etc var bin sbin lib lib32 lib64 libx32; do
	[ -d "/$d" ] && [ ! -L "/$d" ] || continue
	mkdir -p "$state/upper/$d" "$state/work/$d" "$root/$d"
	mount -t overlay lv-pkgroot -o "lowerdir=/$d,upperdir=$state/upper/$d,workdir=$state/work/$d" "$root/$d"
done
mkdir -p "$root/dev" "$root/proc"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"

rc=0
LV_ROOT=$root "$@" || rc=$?
for p in "$root"/run/standin/pids/*; do
	[ -f "$p" ] || continue
	pid=$(cat "$p")
	kill "$pid" 2>/dev/null || true
	i=0
	# Until it is gone or a zombie (whoever inherited it may never reap it).
	while [ -r "/proc/$pid/stat" ] && [ "$(cut -d ' ' -f 3 "/proc/$pid/stat")" != Z ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	rm -f "$p"
	echo "session end: stopped ${p##*/}" >>"$root/run/standin/systemctl.log"
done
exit $rc
