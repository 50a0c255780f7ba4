#!/usr/bin/env bash
# Checks a built toolworker .deb: lintian (no errors), its files and modes in a throw-away root, the installed
# binary (--version, check-config on the installed example), every man page rendered by man -l, and the
# maintainer scripts' syntax. Usage: scripts/check-package.sh PATH.deb
set -euo pipefail
deb="$1"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
passed=0 failed=0
check() {  # check "what" command...
    local what="$1"; shift
    if "$@" > "$root.out" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "package check failed: $what" >&2
        sed 's/^/    /' "$root.out" >&2
    fi
}

no_lintian_errors() { ! lintian --tag-display-limit 0 "$deb" 2>/dev/null | grep '^E:'; }
check "lintian reports no errors" no_lintian_errors

dpkg-deb -x "$deb" "$root/tree"
dpkg-deb -e "$deb" "$root/DEBIAN"
version=$(dpkg-deb -f "$deb" Version)

mode_is() {  # mode_is MODE PATH
    [ "$(stat -c %a "$root/tree$2")" = "$1" ] || { echo "$2: mode $(stat -c %a "$root/tree$2"), expected $1"; return 1; }
}
check "the binary is /usr/bin/toolworker, 0755" mode_is 755 /usr/bin/toolworker
check "the unit is in /usr/lib/systemd/system" mode_is 644 /usr/lib/systemd/system/toolworker.service
check "sysusers.d entry" mode_is 644 /usr/lib/sysusers.d/toolworker.conf
check "the example configuration is 0640" mode_is 640 /etc/toolworker/toolworker.yaml
check "the example configuration is a conffile" grep -qx /etc/toolworker/toolworker.yaml "$root/DEBIAN/conffiles"
check "example handlers are executable" mode_is 755 /usr/share/toolworker/tools/get_weather.sh
check "queries.sql" mode_is 644 /usr/share/toolworker/queries.sql
check "the unit's Documentation= resolves" test -f "$root/tree/usr/share/doc/toolworker/README.md"
check "copyright" test -f "$root/tree/usr/share/doc/toolworker/copyright"
check "architecture notes" test -f "$root/tree/usr/share/doc/toolworker/ARCHITECTURE.md"
for shell in bash-completion/completions/toolworker zsh/vendor-completions/_toolworker fish/vendor_completions.d/toolworker.fish; do
    check "completion $shell" test -s "$root/tree/usr/share/$shell"
done
check "everything is owned by root" test -z "$(dpkg-deb -c "$deb" | awk '$2 != "root/root"')"

installed="$root/tree/usr/bin/toolworker"
version_is() { [ "$("$installed" --version)" = "$version" ]; }
check "the installed binary runs --version ($version)" version_is
# check-config on the installed example, its absolute paths rebased into the throw-away root.
# The state folder is systemd's (StateDirectory=) at start; here a folder of the root stands in for it.
mkdir -p "$root/state"
sed -e "s|/usr/share/toolworker/|$root/tree/usr/share/toolworker/|" -e "s|/var/lib/toolworker/|$root/state/|" \
    "$root/tree/etc/toolworker/toolworker.yaml" > "$root/rebased.yaml"
check "check-config accepts the installed example" env -i PATH=/usr/bin:/bin "$installed" check-config --config "$root/rebased.yaml"

pages=0
for page in "$root"/tree/usr/share/man/man*/*.gz; do
    pages=$((pages + 1))
    renders() { local out; out=$(MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null); [ -z "$out" ] || { echo "$out"; return 1; }; }
    check "man -l renders $(basename "$page")" renders "$page"
done
check "man pages: toolworker(1), one per subcommand, toolworker.yaml(5)" test "$pages" -ge 14 -a -f "$root/tree/usr/share/man/man5/toolworker.yaml.5.gz"
for script in postinst prerm postrm; do check "$script parses" sh -n "$root/DEBIAN/$script"; done

echo "package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
