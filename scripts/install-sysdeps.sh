#!/usr/bin/env bash
# Installs the system tools the Python packages cannot bring, with apt when one is missing:
#   Icarus Verilog (RTL simulation), gcc/g++/make,
#   yosys + nextpnr-ice40 + icestorm (synthesis, place and route; ECP5 P&R comes from PyPI),
#   arm-none-eabi-gcc + newlib + qemu-system-arm (Cortex-M builds run bare metal under QEMU),
#   aarch64-linux-gnu-gcc + qemu-user (ARM64 builds run under qemu-aarch64).
# Each tool is checked by the command it provides, so a machine that has them installs nothing.
set -euo pipefail
declare -A need=(
  [iverilog]=iverilog [gcc]=gcc [g++]=g++ [make]=make
  [yosys]=yosys [nextpnr-ice40]=nextpnr-ice40 [icepack]=fpga-icestorm
  [arm-none-eabi-gcc]="gcc-arm-none-eabi libnewlib-arm-none-eabi"
  [qemu-system-arm]=qemu-system-arm
  [aarch64-linux-gnu-gcc]="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
  [qemu-aarch64]=qemu-user
)
missing=()
for tool in "${!need[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=(${need[$tool]})
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: need ${missing[*]} but apt-get is not available; install them with your package manager" >&2
  exit 2
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
  else echo "error: need ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2; exit 2; fi
fi
echo "installing with apt: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
  "${missing[@]}" >/dev/null
