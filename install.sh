#!/usr/bin/env bash
# Install everything rpusim needs on a fresh Debian machine (run as root, or with sudo available):
# Debian's Fashion-MNIST package, the CPU build of torch 2.13.0 and rpusim with its pinned dependencies,
# then the data sets found nowhere locally. Missing data never fails the install (offline it says what is
# missing and how to get it; the tests that need it are then skipped).
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q dataset-fashion-mnist; } \
    || echo "install: apt could not install dataset-fashion-mnist; its download mirror is tried below"
fi
# torch first and pinned, so no resolver ever pulls a CUDA build
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e '.[test]'
# data: what $RPUSIM_DATA, ../shared/data, Debian's package or ~/.cache/rpusim has is used as it is;
# only data sets found nowhere are downloaded (to ~/.cache/rpusim, checksum-verified)
python3 -m rpusim.cli data ensure || true
echo "rpusim installed: $(python3 -c 'import rpusim; print(rpusim.__version__)')"
