#!/usr/bin/env sh
# Install this Albert Studio folder for the current user: `albert-studio` on PATH and a menu entry.
#   ./install.sh            (run from inside the unpacked folder; nothing is copied, the folder stays where it is)
#   ./install.sh --uninstall
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin="${XDG_BIN_HOME:-$HOME/.local/bin}"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor"
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$bin/albert-studio" "$apps/albert-studio.desktop" "$icons/256x256/apps/albert-studio.png" \
          "$icons/scalable/apps/albert-studio.svg"
    echo "Albert Studio removed from the menu and PATH (this folder and your library are left as they are)."
    exit 0
fi
mkdir -p "$bin" "$apps"
ln -sf "$here/albert-studio" "$bin/albert-studio"
if [ -f "$here/_internal/resources/icons/app.png" ]; then
    mkdir -p "$icons/256x256/apps" && cp "$here/_internal/resources/icons/app.png" "$icons/256x256/apps/albert-studio.png"
fi
if [ -f "$here/_internal/resources/icons/app.svg" ]; then
    mkdir -p "$icons/scalable/apps" && cp "$here/_internal/resources/icons/app.svg" "$icons/scalable/apps/albert-studio.svg"
fi
sed "s|^Exec=.*|Exec=\"$here/albert-studio\"|" "$here/albert-studio.desktop" > "$apps/albert-studio.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" >/dev/null 2>&1 || true
echo "Installed: 'albert-studio' in $bin and 'Albert Studio' in the applications menu."
case ":$PATH:" in *":$bin:"*) ;; *) echo "Note: add $bin to your PATH to run albert-studio from a terminal." ;; esac
