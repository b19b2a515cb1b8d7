#!/bin/sh
# Deploy an image tag through the service's deploy hook, then wait until Render says the
# deploy is live (GET /services/{id}/deploys/{deployId}).
set -eu
deploy_id=$(curl -fsS -X POST "$RENDER_DEPLOY_HOOK&imgURL=$RENDER_IMAGE_REPO:$1" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["deploy"]["id"])')
while :; do
  status=$(curl -fsS -H "Authorization: Bearer $RENDER_API_KEY" \
    "$RENDER_API/v1/services/$RENDER_SERVICE_ID/deploys/$deploy_id" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
  case "$status" in
    live) exit 0 ;;
    build_failed|update_failed|canceled|deactivated) echo "deploy $deploy_id: $status" >&2; exit 1 ;;
  esac
  sleep 2
done
