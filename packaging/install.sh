#!/bin/sh
# Install paratune on a node: a self-contained venv under PREFIX (default /opt/paratune),
# the systemd unit, and /etc/paratune/paratune.toml (kept if it exists).
#
#   sudo packaging/install.sh                      # from this checkout, dependencies from PyPI
#   sudo packaging/install.sh --wheelhouse DIR     # offline: paratune and its dependencies as wheels in DIR
#   packaging/install.sh --prefix DIR --no-system  # anywhere, without the unit and /etc (no root needed)
#
# Make a wheelhouse once on a machine with the index and the nodes' Python:
#   python3.11 -m pip wheel --wheel-dir wheels .
# Needs Python 3.11 or newer (PYTHON=..., default: the first of python3.13,
# python3.12, python3.11, python3 that is new enough).  Debian 12 and Ubuntu
# 24.04 ship one; RHEL/Rocky 8 and 9 have python3.11 as a package.
set -eu

prefix=/opt/paratune
wheelhouse=
system=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --wheelhouse) wheelhouse=$2; shift 2 ;;
        --no-system) system=0; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

src=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-}
if [ -z "$python" ]; then
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            python=$candidate
            break
        fi
    done
fi
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install.sh: paratune needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 2
fi

"$python" -m venv "$prefix"
if [ -n "$wheelhouse" ]; then
    "$prefix/bin/pip" install --quiet --no-index --find-links "$wheelhouse" paratune
else
    "$prefix/bin/pip" install --quiet "$src"
fi
install -d -m 0755 "$prefix/share/doc/paratune"
install -m 0644 "$src"/docs/*.md "$src/README.md" "$prefix/share/doc/paratune/"
# the Slurm epilog (Epilog=$prefix/share/paratune-epilog) and an example node-class catalog
sed "s|/opt/paratune|$prefix|g" "$src/packaging/paratune-epilog" > "$prefix/share/paratune-epilog"
chmod 0755 "$prefix/share/paratune-epilog"
install -m 0644 "$src/packaging/node-classes.example.toml" "$prefix/share/doc/paratune/"
"$prefix/bin/paratune" --version

if [ "$system" = 1 ]; then
    install -d -m 0755 /etc/paratune
    [ -e /etc/paratune/paratune.toml ] ||
        install -m 0644 "$src/packaging/paratune.toml.example" /etc/paratune/paratune.toml
    sed "s|/opt/paratune|$prefix|g" "$src/packaging/paratune-record.service" \
        > /etc/systemd/system/paratune-record.service
    chmod 0644 /etc/systemd/system/paratune-record.service
    echo "installed: $prefix, /etc/systemd/system/paratune-record.service, /etc/paratune/paratune.toml"
    echo "start it:  systemctl daemon-reload && systemctl enable --now paratune-record"
fi
