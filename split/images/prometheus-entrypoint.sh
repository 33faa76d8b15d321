#!/bin/bash
# Entry point of the `prometheus` image: split/observability/prometheus.yml with its discovery `url` pointed
# at the gateway as this container reaches it (SHOP_GATEWAY_URL, default http://gateway:8080), its rules,
# and admin-token.sh keeping the admin token next to it fresh (the admin's password from the secret file
# SHOP_ADMIN_PASSWORD_FILE). Until the gateway first answers, the token is asked for every 2 s; then
# every SHOP_ADMIN_TOKEN_EVERY seconds (default 1800, half the default token lifetime).
set -euo pipefail
gateway=${SHOP_GATEWAY_URL:-http://gateway:8080}
every=${SHOP_ADMIN_TOKEN_EVERY:-1800}
dir=$(mktemp -d /tmp/shop-prometheus.XXXXXX)
sed "s#^\( *- url: \)http://127.0.0.1:8080/#\1$gateway/#" /etc/shop/prometheus/prometheus.yml >"$dir/prometheus.yml"
grep -q "url: $gateway/admin/services/prometheus" "$dir/prometheus.yml" ||
  { echo "shop-prometheus: the discovery url line of prometheus.yml was not found" >&2; exit 1; }
cp /etc/shop/prometheus/shop-rules.yml "$dir/"
(
  until shop-admin-token --gateway "$gateway" --out "$dir/admin-token" 2>/dev/null; do sleep 2; done
  echo "shop-prometheus: admin token written" >&2
  sleep "$every"
  exec shop-admin-token --gateway "$gateway" --out "$dir/admin-token" --every "$every"
) &
exec prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path=/prometheus \
  --web.listen-address="0.0.0.0:9090" ${SHOP_PROMETHEUS_ARGS:-}
