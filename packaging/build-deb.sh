#!/usr/bin/env bash
# Builds target/dist/rserpool_<version>_<arch>.deb: the binary, man pages, shell
# completions, the systemd unit, an example configuration and the licenses.
# Uses dpkg-deb alone (no cargo-deb to compile first).
#   packaging/build-deb.sh              release build, then the package
#   BIN=path/to/rserpool packaging/build-deb.sh   package a binary built before
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p rserpool-cli
  BIN=target/release/rserpool
fi
[ -x "$BIN" ] || { echo "build-deb: no binary at $BIN" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
root=target/dist/deb
rm -rf "$root"
install -D -m 0755 "$BIN" "$root/usr/bin/rserpool"
"$BIN" man --out "$root/usr/share/man/man1"
gzip -9n "$root"/usr/share/man/man1/*.1
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
"$BIN" completions bash > "$root/usr/share/bash-completion/completions/rserpool"
"$BIN" completions zsh > "$root/usr/share/zsh/vendor-completions/_rserpool"
"$BIN" completions fish > "$root/usr/share/fish/vendor_completions.d/rserpool.fish"
install -D -m 0644 packaging/rserpool-registrar.service "$root/lib/systemd/system/rserpool-registrar.service"
install -D -m 0644 packaging/registrar.toml "$root/etc/rserpool/registrar.toml"
install -D -m 0644 LICENSE-MIT "$root/usr/share/doc/rserpool/LICENSE-MIT"
install -D -m 0644 LICENSE-APACHE "$root/usr/share/doc/rserpool/LICENSE-APACHE"
install -d "$root/DEBIAN"
echo "/etc/rserpool/registrar.toml" > "$root/DEBIAN/conffiles"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: rserpool
Version: $version
Architecture: $arch
Maintainer: The rserpool authors
Installed-Size: $size
Depends: libc6
Section: net
Priority: optional
Description: Reliable Server Pooling (RFC 5351-5356): registrar, pool element and user tools
 A pool registrar (ASAP and ENRP over TCP or kernel SCTP), pool element and
 pool user commands, a capture inspector and benchmarks, interoperable with
 RSPLIB.
CONTROL
out="target/dist/rserpool_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
