#!/usr/bin/env bash
# Installs the Debian packages slotfs needs, when missing: FUSE (libfuse2 for fuse-native,
# and fusermount from fuse or fuse3), libfuse-dev and a compiler to build fuse-native's
# utimens fix and the native codec, the tools the mount tests drive (rsync, attr, git), and
# iproute2 for the grid across network namespaces.
# Uses sudo when not run as root. Safe to run again: it installs nothing already there.
set -uo pipefail

need=()
dpkg -s libfuse2 >/dev/null 2>&1 || dpkg -s libfuse2t64 >/dev/null 2>&1 || need+=(libfuse2)
# fuse and fuse3 conflict; either provides a fusermount that works for libfuse2.
dpkg -s fuse >/dev/null 2>&1 || dpkg -s fuse3 >/dev/null 2>&1 || need+=(fuse)
dpkg -s libfuse-dev >/dev/null 2>&1 || need+=(libfuse-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v getfattr >/dev/null 2>&1 || need+=(attr)
command -v git >/dev/null 2>&1 || need+=(git)
# The grid across hosts (src/grid/hosts): network namespaces, veths and a bridge.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)

if [ ${#need[@]} -eq 0 ]; then
  echo "setup: every system package slotfs needs is installed"
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup: missing ${need[*]}; run as root (or install sudo): apt-get install ${need[*]}" >&2
    exit 1
  fi
  as_root=(sudo)
fi
echo "setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get update -qq || ! "${as_root[@]}" apt-get install -y -qq "${need[@]}" >/dev/null; then
  echo "setup: could not install ${need[*]}; install them with apt-get and run again" >&2
  exit 1
fi
