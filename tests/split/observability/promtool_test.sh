#!/usr/bin/env bash
# Static checks of split/observability's Prometheus files with promtool (Debian's prometheus package):
#   promtool check config prometheus.yml   (syntax, the discovery and relabelling, the rule file it names)
#   promtool check rules shop-rules.yml
#   promtool test rules shop-rules.test.yml (each alert fired and not fired by input series)
# Exit 77 (skipped) only when promtool is missing and cannot be installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need_tool promtool prometheus || { echo "SKIPPED: promtool (package prometheus) is not installed and could not be installed"; exit 77; }
cd "$split_tests_root/split/observability"
promtool check config prometheus.yml
promtool check rules shop-rules.yml
promtool test rules shop-rules.test.yml
