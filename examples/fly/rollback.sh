#!/bin/sh
# Roll a Fly.io app back by redeploying the image of its previous release: `fly releases
# --image` lists releases newest first with their image references.
set -eu
previous=$(fly releases --app "$FLY_APP" --image --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[1]["ImageRef"])')
exec fly deploy --app "$FLY_APP" --image "$previous" --strategy immediate
