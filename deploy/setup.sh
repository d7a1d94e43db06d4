#!/usr/bin/env bash
# Sets up this machine for Ringside, idempotently, saying what it changes.
#
#   deploy/setup.sh            what the sensor needs: bcc, bpftool, kernel headers
#                              for bcc's compiler, tracefs, the virtual environment
#   deploy/setup.sh --test     and what the tests need: podman, runc, busybox, containerd
#   deploy/setup.sh --bench    and what the benchmarks compare with: auditd, bpftrace
#
# Everything is printed on stderr: `make run` keeps stdout for events.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
venv="$root/.venv"
want_test=0
want_bench=0
for arg in "$@"; do
    case "$arg" in
        --test) want_test=1 ;;
        --bench) want_test=1; want_bench=1 ;;
        *) echo "setup: unknown option $arg (use --test or --bench)" >&2; exit 2 ;;
    esac
done

say() { echo "setup: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    say "must run as root: it installs packages and loads BPF programs"
    exit 1
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_updated=0
apt_install() {
    local missing=()
    for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ $apt_updated -eq 0 ]; then
        say "apt-get update"
        apt-get update -qq >&2
        apt_updated=1
    fi
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# --- packages ---------------------------------------------------------------
apt_install python3-bpfcc python3-venv python3-dev bpftool
[ $want_test -eq 1 ] && apt_install podman runc busybox-static conntrack iptables uidmap containerd
[ $want_bench -eq 1 ] && apt_install auditd bpftrace

# --- kernel headers for bcc's compiler --------------------------------------
# bcc compiles at run time and wants /lib/modules/$(uname -r)/build.  Where the
# kernel ships none, Debian's generic headers satisfy the compiler; no struct
# layout is taken from them (offsets come from the kernel's BTF).
release=$(uname -r)
moddir="/lib/modules/$release"
if [ ! -e "$moddir/build/include/generated/autoconf.h" ]; then
    apt_install linux-headers-amd64
    build=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
    common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$build" ] || [ -z "$common" ]; then
        say "no headers under /usr/src after installing linux-headers-amd64"
        exit 1
    fi
    mkdir -p "$moddir"
    ln -sfn "$build" "$moddir/build"
    ln -sfn "$common" "$moddir/source"
    say "no headers for kernel $release: linked $moddir/build -> $build and source -> $common"
fi

# --- kernel filesystems ------------------------------------------------------
if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ]; then
    mount -t tracefs nodev /sys/kernel/tracing
    say "mounted tracefs at /sys/kernel/tracing"
fi
if [ ! -e /sys/kernel/security/lockdown ] && ! mountpoint -q /sys/kernel/security; then
    if mount -t securityfs none /sys/kernel/security 2>/dev/null; then
        say "mounted securityfs at /sys/kernel/security (to read the lockdown level)"
    fi
fi

# --- the virtual environment -------------------------------------------------
# --system-site-packages: bcc is only in Debian's python3-bpfcc, for /usr/bin/python3.
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv (with system site packages, for bcc)"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
stamp="$venv/.ringside-installed"
if [ ! -e "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ] \
    || [ "$root/requirements.lock" -nt "$stamp" ]; then
    say "installing ringside and its dependencies into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        -c "$root/requirements.lock" -e "$root[dev]" >&2
    touch "$stamp"
fi
"$venv/bin/python" -c "import bcc" 2>/dev/null || {
    say "bcc does not import in $venv"
    exit 1
}

# --- the sensor's C parts (sensor/ringside/*.c, see _native.py) ------------
# Named by the hash of their sources: rebuilt only when a source changes.
native() { "$venv/bin/python" -c "import sys; from ringside._native import PARTS; $1"; }
if ! native "sys.exit(0 if all(p.path.exists() for p in PARTS) else 1)"; then
    if native "from ringside._native import main; sys.exit(main())" >/dev/null; then
        say "built the sensor's C parts (sensor/ringside/*.c)"
    else
        say "could not build the sensor's C parts: the sensor uses its Python fallbacks"
    fi
fi
say "ready"
