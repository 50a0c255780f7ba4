#!/usr/bin/env bash
# Builds toolworker_<version>_<arch>.deb with dpkg-deb from a release build, without network:
#   scripts/package-deb.sh [OUT_DIR]        (default .build-deb/; prints the .deb's path last)
# The Swift standard library and Foundation are linked statically (--static-swift-stdlib): the package then needs
# only Debian's own libraries (libcurl4, libsqlite3-0, libstdc++6, libgcc-s1, libc6), which dpkg-shlibdeps lists.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="dpkg-dev" scripts/ensure-deps.sh
out="${1:-.build-deb}"
mkdir -p "$out"
version=$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/WireFormat/Support/Version.swift)
arch=$(dpkg --print-architecture)
date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
export SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)

echo "package-deb: release build" >&2
swift build -c release --product toolworker --static-swift-stdlib >&2
binary="$(swift build -c release --show-bin-path)/toolworker"
echo "package-deb: man pages" >&2
swift build --product toolworker >&2
swift package generate-manual --multi-page --configuration debug --date "$date" >&2
manuals=.build/plugins/GenerateManual/outputs/ToolWorker

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/toolworker_${version}_${arch}"
install -d -m 0755 "$root/DEBIAN"
install -D -m 0755 "$binary" "$root/usr/bin/toolworker"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/toolworker"
install -D -m 0644 deploy/toolworker.service "$root/usr/lib/systemd/system/toolworker.service"
install -D -m 0644 deploy/sysusers.d/toolworker.conf "$root/usr/lib/sysusers.d/toolworker.conf"
# The example configuration, with its handlers where the package puts them.
install -d -m 0755 "$root/etc/toolworker"
sed 's|"tools/|"/usr/share/toolworker/tools/|' deploy/toolworker.yaml > "$root/etc/toolworker/toolworker.yaml"
chmod 0640 "$root/etc/toolworker/toolworker.yaml"
install -d -m 0755 "$root/usr/share/toolworker/tools"
install -m 0755 deploy/tools/*.sh "$root/usr/share/toolworker/tools/"
install -D -m 0644 deploy/queries.sql "$root/usr/share/toolworker/queries.sql"
doc="$root/usr/share/doc/toolworker"
install -D -m 0644 README.md "$doc/README.md"
install -D -m 0644 docs/ARCHITECTURE.md "$doc/ARCHITECTURE.md"
install -D -m 0644 deploy/debian/copyright "$doc/copyright"
{
    echo "toolworker ($version) unstable; urgency=medium"
    echo
    echo "  * Release $version, built from $(git rev-parse --short HEAD 2>/dev/null || echo 'a source tree')."
    echo
    echo " -- ToolWorker developers <toolworker@example.org>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
# Overrides, each with its reason (lintian prints them as overridden, not as errors or warnings).
install -d -m 0755 "$root/usr/share/lintian/overrides"
install -m 0644 deploy/debian/lintian-overrides "$root/usr/share/lintian/overrides/toolworker"

install -d -m 0755 "$root/usr/share/man/man1" "$root/usr/share/man/man5"
for page in "$manuals"/*.1; do
    gzip -9n < "$page" > "$root/usr/share/man/man1/$(basename "$page").gz"
done
scripts/config-manpage.py README.md "$version" "$date" | gzip -9n > "$root/usr/share/man/man5/toolworker.yaml.5.gz"
chmod 0644 "$root"/usr/share/man/man*/*.gz

install -d -m 0755 "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
"$binary" --generate-completion-script bash | sed '1{/^#!/d}' > "$root/usr/share/bash-completion/completions/toolworker"
"$binary" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_toolworker"
"$binary" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/toolworker.fish"
chmod 0644 "$root/usr/share/bash-completion/completions/toolworker" "$root/usr/share/zsh/vendor-completions/_toolworker" \
    "$root/usr/share/fish/vendor_completions.d/toolworker.fish"

for script in postinst prerm postrm; do install -m 0755 "deploy/debian/$script" "$root/DEBIAN/$script"; done
echo "/etc/toolworker/toolworker.yaml" > "$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"

# Depends: what the binary links, as dpkg-shlibdeps reads it (it wants a debian/control beside it).
mkdir -p "$stage/src/debian"
printf 'Source: toolworker\n\nPackage: toolworker\nArchitecture: any\n' > "$stage/src/debian/control"
depends=$(cd "$stage/src" && dpkg-shlibdeps -O "$root/usr/bin/toolworker" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: toolworker
Version: $version
Architecture: $arch
Maintainer: ToolWorker developers <toolworker@example.org>
Installed-Size: $size
Depends: $depends, systemd
Recommends: bubblewrap
Section: admin
Priority: optional
Description: daemon that runs the tool calls of OpenAI-compatible assistants
 ToolWorker starts Assistants API v2 runs with streaming, accumulates their
 events into snapshots, answers every tool call with a local handler (a shell
 script or any program), submits the outputs and goes on until each run ends.
 Every event and snapshot is journaled to SQLite; the daemon runs as a systemd
 service that survives crashes without losing a run or running a tool call
 twice.
CONTROL

deb="$out/toolworker_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
