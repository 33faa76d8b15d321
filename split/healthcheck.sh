#!/bin/bash
# Container health check without curl: GET /health/ready on this container's port must be 200.
exec 3<>"/dev/tcp/127.0.0.1/${SHOP_PORT:-8080}" || exit 1
printf 'GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 3 status <&3 || exit 1
[[ "$status" == "HTTP/1.1 200 "* ]]
