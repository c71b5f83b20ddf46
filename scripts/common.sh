# Shared steps of scripts/run and scripts/test. Sourced, not executed.
# Installs only from crates.io, npm and Debian; never downloads a binary at run time.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

ensure_rust_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "Installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION from crates.io (about 3 minutes, once)"
    # No --locked: the CLI's own lock pins a webpki-roots this registry does not serve.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

ensure_npm() {
  if [ ! -x node_modules/.bin/playwright ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "Installing npm packages (npm ci)"
    npm ci --no-audit --no-fund
  fi
}

# Builds the hydrate wasm, the JS glue and the CSS into target/site, then the server.
# Dev profile: a release build of the server takes about 8 minutes cold.
build_site() {
  say "Building the browser bundle (wasm)"
  cargo build -p frontend --lib --target wasm32-unknown-unknown
  mkdir -p target/site/pkg
  cp -r public/. target/site/
  cp style/main.css target/site/pkg/switchyard.css
  wasm-bindgen --target web --no-typescript --out-dir target/site/pkg --out-name switchyard \
    target/wasm32-unknown-unknown/debug/frontend.wasm
  mv -f target/site/pkg/switchyard_bg.wasm target/site/pkg/switchyard.wasm
  say "Building the server"
  # A separate cargo invocation: building both at once would unify app's ssr and hydrate features.
  cargo build -p server --bin switchyard
}
