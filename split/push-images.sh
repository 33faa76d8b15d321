#!/usr/bin/env bash
# Pushes the stack's images (split/build-images.sh) to a registry and writes their digests, so that every
# node of a swarm runs exactly the same bytes, whatever a tag points at later:
#   split/push-images.sh REGISTRY [--tag TAG] [--out FILE] [TARGET...]
#     REGISTRY  host[:port][/path] every node can pull from, e.g. registry.example.com:5000/shop-team
#               or 127.0.0.1:5000 (Debian's docker-registry on this machine; Docker pulls from 127.0.0.0/8
#               over plain HTTP without further setup, any other host needs TLS or insecure-registries)
#     --tag     the local images' tag (default: local); also the tag pushed
#     --out     the env file to write (default: split/images.env): one SHOP_<TARGET>_IMAGE=REGISTRY/shop/<target>@sha256:...
#               line per image, the variables split/stack.yml and split/stack-monolith.yml read
#     TARGET... only these (app postgres nats rsyslog prometheus edge); default: all
# Then, on a manager node:
#   set -a; . split/images.env; set +a
#   docker stack deploy --with-registry-auth -c split/stack.yml shop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
registry="" tag=local out="$root/split/images.env" targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "push-images: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) if [ -z "$registry" ]; then registry=${1%/}; else targets+=("$1"); fi; shift ;;
  esac
done
[ -n "$registry" ] || { echo "push-images: usage: push-images.sh REGISTRY [--tag TAG] [--out FILE] [TARGET...]" >&2; exit 2; }
all=(app postgres nats rsyslog prometheus edge)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "# Written by split/push-images.sh $registry on $(date -u +%Y-%m-%dT%H:%M:%SZ): the stack's images by digest." >"$tmp"
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "push-images: unknown target $t (one of: ${all[*]})" >&2; exit 2; }
  local_ref="shop/$t:$tag" remote="$registry/shop/$t"
  docker image inspect "$local_ref" >/dev/null 2>&1 ||
    { echo "push-images: no image $local_ref: run split/build-images.sh first" >&2; exit 1; }
  docker tag "$local_ref" "$remote:$tag"
  # The digest the registry answers for this push (the manifest's sha256), from push's last line.
  digest=$(docker push "$remote:$tag" | tee /dev/stderr | sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' | tail -1)
  [ -n "$digest" ] || { echo "push-images: no digest from pushing $remote:$tag" >&2; exit 1; }
  var="SHOP_$(echo "$t" | tr '[:lower:]' '[:upper:]')_IMAGE"
  echo "$var=$remote@$digest" >>"$tmp"
  echo "push-images: $var=$remote@$digest" >&2
done
mv "$tmp" "$out"
trap - EXIT
echo "push-images: wrote $out" >&2
