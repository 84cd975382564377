#!/usr/bin/env bash
# The install step of the promptctl action (action.yml at the repository root; docs/ci.md).
#
# Installs one promptctl version and puts it on the job's PATH (through $GITHUB_PATH):
#   1. the release's `promptctl-<target>.tar.gz`, after checking it against the release's
#      SHA256SUMS (a mismatch is an error, never a reason to fall back);
#   2. when that release has no archive for this platform (or no such release exists), built from
#      source with `cargo install --locked`: from the action's own checkout when the version is
#      the one it carries, else from the repository at the version's tag.
#
# Inputs, from the environment:
#   INPUT_VERSION   `v1.2.3` or `1.2.3`; `source` builds the action's own checkout; empty: the
#                   version in the action's Cargo.toml (so `uses: promptctl/promptctl@v1.2.3`
#                   installs 1.2.3).
#   GITHUB_ACTION_PATH, GITHUB_PATH, GITHUB_OUTPUT, RUNNER_TEMP: set by the Actions runner.
#   PROMPTCTL_RELEASE_BASE_URL: where releases are downloaded from (default: the GitHub releases
#                   of promptctl/promptctl); a mirror, or a file:// folder in tests.
set -euo pipefail

repository="https://github.com/promptctl/promptctl"
base_url="${PROMPTCTL_RELEASE_BASE_URL:-$repository/releases/download}"
action_path="${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/../.." && pwd)}"
temp="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"

# The version this checkout of the action carries: Cargo.toml's [package] version.
own_version() {
  sed -n '/^\[package\]/,/^\[/s/^version = "\([^"]*\)"$/\1/p' "$action_path/Cargo.toml" | head -n 1
}

# The Rust target triple of the release archive for this machine, or nothing when none is built.
release_target() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) echo x86_64-unknown-linux-musl ;;
    Linux-aarch64 | Linux-arm64) echo aarch64-unknown-linux-musl ;;
    Darwin-arm64 | Darwin-aarch64) echo aarch64-apple-darwin ;;
    Darwin-x86_64) echo x86_64-apple-darwin ;;
    MINGW*-x86_64 | MSYS*-x86_64 | CYGWIN*-x86_64) echo x86_64-pc-windows-msvc ;;
    *) ;;
  esac
}

sha256_check() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum --check --strict "$@"
  else
    shasum --algorithm 256 --check --strict "$@"
  fi
}

# Installs from source into $install_root with cargo; the arguments say what to build.
cargo_install() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "::error title=promptctl::no release archive for this platform, and no cargo to build promptctl from source: install a Rust toolchain first (for example dtolnay/rust-toolchain)"
    exit 1
  fi
  echo "building promptctl from source: cargo install --locked $*"
  cargo install --locked --root "$install_root" "$@"
}

version="${INPUT_VERSION:-}"
if [ -z "$version" ]; then
  version="$(own_version)"
  if [ -z "$version" ]; then
    echo "::error title=promptctl::cannot read the version from $action_path/Cargo.toml; set the action's \`version\` input"
    exit 1
  fi
fi
case "$version" in
  source) ;;
  v[0-9]*) ;;
  [0-9]*) version="v$version" ;;
  *)
    echo "::error title=promptctl::\`version\` is \`$version\`: expected a release such as v1.2.3, or \`source\`"
    exit 1
    ;;
esac

install_root="$temp/promptctl-$version"
mkdir -p "$install_root/bin"
exe=""
case "$(uname -s)" in MINGW* | MSYS* | CYGWIN*) exe=".exe" ;; esac

target="$(release_target)"
installed=""
if [ "$version" != source ] && [ -n "$target" ]; then
  asset="promptctl-$target.tar.gz"
  download="$temp/promptctl-download-$version"
  rm -rf "$download"
  mkdir -p "$download"
  # A missing SHA256SUMS, or no line for this platform's archive, means no release for it.
  if curl --fail --silent --show-error --location --retry 3 \
    --output "$download/SHA256SUMS" "$base_url/$version/SHA256SUMS" &&
    grep -q "  $asset\$" "$download/SHA256SUMS"; then
    curl --fail --silent --show-error --location --retry 3 \
      --output "$download/$asset" "$base_url/$version/$asset"
    grep "  $asset\$" "$download/SHA256SUMS" >"$download/SHA256SUMS.$target"
    if ! (cd "$download" && sha256_check "SHA256SUMS.$target"); then
      echo "::error title=promptctl::$asset does not match the SHA-256 in the release's SHA256SUMS: refusing to install it"
      exit 1
    fi
    # A relative archive name: GNU tar takes `D:\…` (a Windows runner's path) for a remote host.
    (cd "$download" && tar -xzf "$asset")
    cp "$download/promptctl-$target/promptctl$exe" "$install_root/bin/promptctl$exe"
    chmod +x "$install_root/bin/promptctl$exe"
    installed="release $version ($asset, SHA-256 checked)"
  else
    echo "::notice title=promptctl::no release archive $asset for $version: building from source"
  fi
fi

if [ -z "$installed" ]; then
  if [ "$version" = source ] || [ "$version" = "v$(own_version)" ]; then
    cargo_install --path "$action_path" --bin promptctl
    installed="built from the action's source ($action_path)"
  else
    cargo_install --git "$repository" --tag "$version" --bin promptctl promptctl
    installed="built from source at tag $version"
  fi
fi

echo "$install_root/bin" >>"${GITHUB_PATH:-/dev/null}"
echo "version=$version" >>"${GITHUB_OUTPUT:-/dev/null}"
echo "promptctl: $installed, in $install_root/bin"
"$install_root/bin/promptctl$exe" --version
