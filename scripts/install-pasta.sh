#!/usr/bin/env bash
# Install pasta (passt) 0.0~git20250503.587980c, Debian 13's, into /usr/local/bin (ahead of /usr/bin on
# root's PATH, so `tesserra serve` finds it first): Debian 12's passt (0.0~git20230309) stalls large
# transfers into and out of process sandboxes (bench/README.md, "Sandboxes and the runtime proxy").
#
# Downloads the source from the Debian archive, checks the pinned sha256 of the upstream tarball and of
# Debian's patches, applies the patches Debian applies, builds with make (gcc, make and patch; installed
# with apt-get when missing) and installs passt, pasta and, on x86-64, their AVX2 builds. Idempotent: does
# nothing when /usr/local/bin/pasta already reports this version. Run as root; PREFIX=/some/dir to install
# elsewhere (its bin/).
set -euo pipefail

VERSION="0.0~git20250503.587980c"
DEBIAN_REVISION="2+deb13u1"
POOL="http://deb.debian.org/debian/pool/main/p/passt"
ORIG="passt_${VERSION}.orig.tar.xz"
ORIG_SHA256="69d5eb843f7d648c2cc60bfbca6ea7b5014c6b6f07cdee362c2a8cf490515a49"
PATCHES="passt_${VERSION}-${DEBIAN_REVISION}.debian.tar.xz"
PATCHES_SHA256="f8d9fdfc1ba89e7dde48705ae68d1dfa8a40477cb85184d41194487f2902b77d"
LABEL="${VERSION}-${DEBIAN_REVISION}"
PREFIX="${PREFIX:-/usr/local}"
BIN="$PREFIX/bin"

# This pasta writes its --version through stdio and exits without flushing it unless stdout is a terminal:
# the version is looked up in the binary instead (the text of its --version).
if [ -x "$BIN/pasta" ] && grep -qaF -- "$LABEL" "$BIN/passt" 2>/dev/null; then
  echo "pasta $LABEL is installed in $BIN"
  exit 0
fi

missing=()
for tool in gcc make patch python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  packages=()
  for tool in "${missing[@]}"; do
    case "$tool" in
      gcc) packages+=(gcc libc6-dev) ;;
      python3) packages+=(python3-minimal) ;;
      *) packages+=("$tool") ;;
    esac
  done
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-pasta: missing ${missing[*]} (and no apt-get to install them)" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Download and check both files, then unpack them: python3 alone (no curl, no xz-utils needed).
python3 - "$work" "$POOL" "$ORIG" "$ORIG_SHA256" "$PATCHES" "$PATCHES_SHA256" <<'EOF'
import hashlib, sys, tarfile, urllib.parse, urllib.request
from pathlib import Path

work, pool, files = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
for name, expected in zip(files[::2], files[1::2]):
    url = f"{pool}/{urllib.parse.quote(name)}"
    with urllib.request.urlopen(url, timeout=120) as answer:
        data = answer.read()
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        sys.exit(f"install-pasta: {url}: sha256 {found}, expected {expected}")
    (work / name).write_bytes(data)
    with tarfile.open(work / name) as archive:
        try:  # the checksum vouches for the content; "data" where this Python has extraction filters
            archive.extractall(work / "src", filter="data")
        except TypeError:
            archive.extractall(work / "src")
EOF

source_dir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'passt-*' | head -n 1)
series="$work/src/debian/patches/series"
while read -r name; do
  case "$name" in '' | '#'*) continue ;; esac
  patch -s -d "$source_dir" -p1 <"$work/src/debian/patches/$name"
done <"$series"

targets=(passt)
if [ "$(uname -m)" = x86_64 ]; then targets+=(passt.avx2); fi
make -s -C "$source_dir" -j "$(nproc)" VERSION="$LABEL" "${targets[@]}" >/dev/null

mkdir -p "$BIN"
for target in "${targets[@]}"; do
  install -m 0755 "$source_dir/$target" "$BIN/$target.new"
  mv -f "$BIN/$target.new" "$BIN/$target"
done
ln -sf passt "$BIN/pasta"
if [ -e "$BIN/passt.avx2" ]; then ln -sf passt.avx2 "$BIN/pasta.avx2"; fi
echo "installed pasta $LABEL in $BIN"
