#!/usr/bin/env bash
# Install KiCad 9 (kicad-cli) from Debian's bookworm-backports suite, and pdftoppm
# (poppler-utils) for PNG renderings of schematics (`cktgen-eda to-kicad --preview amp.png`).
#
# The backports suite is added by copying the machine's own Debian source entry (its mirror,
# components and signing key), never a hard-coded mirror. Needs root and apt-get; elsewhere it
# says what to install and exits 1. Does nothing when kicad-cli 9 or newer and pdftoppm are
# already present.
set -euo pipefail

have_kicad9() {
    command -v kicad-cli >/dev/null 2>&1 || return 1
    local major
    major=$(kicad-cli version 2>/dev/null | grep -oE '^[0-9]+' | head -1)
    [ -n "$major" ] && [ "$major" -ge 9 ]
}

have_pdftoppm() { command -v pdftoppm >/dev/null 2>&1; }

if have_kicad9 && have_pdftoppm; then
    echo "kicad: $(kicad-cli version) and pdftoppm already installed"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "kicad: install KiCad 9 and poppler-utils (Debian: 'apt-get install -t" \
         "bookworm-backports kicad poppler-utils' as root, after adding the" \
         "bookworm-backports suite)" >&2
    exit 1
fi
if have_kicad9; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils
    have_pdftoppm || { echo "kicad: pdftoppm still missing after the install" >&2; exit 1; }
    echo "kicad: $(kicad-cli version) already installed; pdftoppm installed"
    exit 0
fi

target=/etc/apt/sources.list.d/cktgen-eda-bookworm-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        # deb822: the first stanza whose Suites name bookworm, with that suite replaced
        awk 'BEGIN { RS = ""; ORS = "\n" }
             /(^|\n)Suites:[^\n]*bookworm([ \n]|$)/ && !done {
                 n = split($0, lines, "\n")
                 for (i = 1; i <= n; i++) {
                     if (lines[i] ~ /^Suites:/) lines[i] = "Suites: bookworm-backports"
                     if (lines[i] !~ /^#/) print lines[i]
                 }
                 done = 1
             }' /etc/apt/sources.list.d/debian.sources > "$target.tmp"
    elif [ -f /etc/apt/sources.list ]; then
        # one-line format: the first "deb URI bookworm COMPONENTS" line
        awk '$1 == "deb" && $3 == "bookworm" && !done { $3 = "bookworm-backports"; print; done = 1 }' \
            /etc/apt/sources.list > "${target%.sources}.list.tmp"
        target=${target%.sources}.list
    fi
    if [ ! -s "$target.tmp" ]; then
        rm -f "$target.tmp"
        echo "kicad: found no Debian bookworm source entry to copy for bookworm-backports" >&2
        exit 1
    fi
    mv "$target.tmp" "$target"
    echo "kicad: added $target"
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports kicad poppler-utils
have_kicad9 || { echo "kicad: kicad-cli 9 still missing after the install" >&2; exit 1; }
have_pdftoppm || { echo "kicad: pdftoppm still missing after the install" >&2; exit 1; }
echo "kicad: $(kicad-cli version) and pdftoppm installed"
