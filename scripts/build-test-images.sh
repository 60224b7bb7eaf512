#!/usr/bin/env bash
# Build the container images the tests run, locally and without a registry (`docker import`):
#   tesserra-test/busybox:latest     busybox-static and its applet links (httpd, cat, sh, ...)
#   tesserra-test/python-mcp:latest  Debian minbase + python3, with /opt/mcp a virtualenv holding
#                                    mcp-server-time and mcp (run /opt/mcp/bin/mcp-server-time)
# Idempotent: an image that exists is kept (pass --force to rebuild). Needs root, docker, debootstrap,
# busybox-static. The Debian mirror is the one this machine's apt already uses.
set -euo pipefail

force=0
[ "${1:-}" = "--force" ] && force=1

BUSYBOX_IMAGE=tesserra-test/busybox:latest
PYTHON_MCP_IMAGE=tesserra-test/python-mcp:latest
SUITE=${TESSERRA_TEST_DEBIAN_SUITE:-bookworm}

have_image() { [ "$force" = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }

work=$(mktemp -d /tmp/tesserra-images.XXXXXX)
mounted=()
cleanup() {
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

build_busybox() {
  if have_image "$BUSYBOX_IMAGE"; then echo "$BUSYBOX_IMAGE: present"; return; fi
  local busybox root=$work/busybox
  busybox=$(command -v busybox)
  if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
    [ -x /bin/busybox ] && busybox=/bin/busybox
  fi
  mkdir -p "$root"/{bin,etc,tmp,www,root}
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  echo 'tesserra test page' >"$root/www/index.html"
  tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/bin' --change 'WORKDIR /www' --change 'CMD ["/bin/sh"]' \
    --message 'tesserra test busybox' - "$BUSYBOX_IMAGE" >/dev/null
  echo "$BUSYBOX_IMAGE: built"
}

debian_mirror() {
  # The first non-security Debian archive apt is configured with (deb822 or one-line format).
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' \
    | grep -v -- '-security' | grep '/debian/*$' | head -n 1 || true)
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}' \
      | grep -v -- '-security' | grep '/debian/*$' | head -n 1 || true)
  fi
  if [ -z "$uri" ]; then echo "no Debian mirror found in /etc/apt/sources.list*" >&2; return 1; fi
  echo "$uri"
}

build_python_mcp() {
  if have_image "$PYTHON_MCP_IMAGE"; then echo "$PYTHON_MCP_IMAGE: present"; return; fi
  local root=$work/debian mirror
  mirror=$(debian_mirror)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; return 1; }
  mount -t proc proc "$root/proc" && mounted+=("$root/proc")
  mount --bind /dev "$root/dev" && mounted+=("$root/dev")
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  # The host's CA bundle, for a network that inspects TLS; removed before the image is made.
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/tmp/host-ca.crt"
  local in_root=(chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  "${in_root[@]}" python3 -m venv /opt/mcp
  "${in_root[@]}" /opt/mcp/bin/pip install -q --no-cache-dir --disable-pip-version-check \
    --cert /tmp/host-ca.crt mcp-server-time mcp
  "${in_root[@]}" /opt/mcp/bin/python -c 'import mcp, mcp_server_time'
  for m in "${mounted[@]}"; do umount -l "$m"; done
  mounted=()
  rm -f "$root/tmp/host-ca.crt" "$root/etc/resolv.conf"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/opt/mcp/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'ENV PYTHONUNBUFFERED=1' \
    --change 'CMD ["/opt/mcp/bin/mcp-server-time"]' \
    --message 'tesserra test python + mcp-server-time' - "$PYTHON_MCP_IMAGE" >/dev/null
  echo "$PYTHON_MCP_IMAGE: built"
}

build_busybox
build_python_mcp
