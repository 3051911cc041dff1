#!/usr/bin/env bash
# Install everything rpusim needs on a fresh Debian machine (run as root, or with sudo available):
# Debian's Fashion-MNIST package, then the CPU build of torch 2.13.0 and rpusim with its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q dataset-fashion-mnist
fi
# torch first and pinned, so no resolver ever pulls a CUDA build
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e '.[test]'
echo "rpusim installed: $(python3 -c 'import rpusim; print(rpusim.__version__)')"
