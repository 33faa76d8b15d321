#!/usr/bin/env bash
# Installs what is missing, builds, and starts the single binary on port 8080 with ./data:
#   ./app/run.sh [extra shop flags]
# Set SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD to create the first admin.
set -euo pipefail
cd "$(dirname "$0")/.."

./.ci/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target shop
exec ./build/bin/shop --port "${SHOP_PORT:-8080}" --data-dir "${SHOP_DATA_DIR:-./data}" "$@"
