#!/bin/sh
# Roll back to the deploy before the live one with Render's rollback API (POST
# /services/{id}/rollbacks), which redeploys that deploy's image.
set -eu
api="$RENDER_API/v1/services/$RENDER_SERVICE_ID"
previous=$(curl -fsS -H "Authorization: Bearer $RENDER_API_KEY" "$api/deploys?limit=2" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)[1]["deploy"]["id"])')
curl -fsS -X POST -H "Authorization: Bearer $RENDER_API_KEY" -H "Content-Type: application/json" \
  -d "{\"deployId\": \"$previous\"}" "$api/rollbacks" >/dev/null
