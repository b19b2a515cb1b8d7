#!/bin/bash
# A plain deploy script over SSH, the kind a small team keeps beside its code.
#
#   ./deploy.sh deploy RELEASE   new release directory from git, migrate, swap, reload
#   ./deploy.sh rollback         point `current` at the release before it, reload
#
# The host comes from an ssh_config (on a real VM, your own ~/.ssh/config entry); gameday
# passes the replica's as GAMEDAY_SSH_CONFIG, with the deploy path and the git URL.
set -euo pipefail
config=${GAMEDAY_SSH_CONFIG:?set GAMEDAY_SSH_CONFIG}
app=${GAMEDAY_DEPLOY_TO:-/srv/app}
repo=${GAMEDAY_REPO_URL:?set GAMEDAY_REPO_URL}

remote() { ssh -F "$config" gameday bash -s -- "$@"; }

case "${1:-}" in
deploy)
  release=${2:?usage: deploy.sh deploy RELEASE}
  remote "$app" "$repo" "$release" <<'REMOTE'
set -euo pipefail
app=$1 repo=$2 release=$3
dir=$app/releases/$(date -u +%Y%m%d%H%M%S)
mkdir "$dir"
git --git-dir="$repo" archive "$release" | tar -x -C "$dir"
echo "$release" > "$dir/REVISION"
for shared in .env storage log; do ln -s "$app/shared/$shared" "$dir/$shared"; done
(cd "$dir" && set -a && . ./.env && python3 -m shop.migrate up)
ln -sfn "$dir" "$app/current.new" && mv -T "$app/current.new" "$app/current"
supervisorctl signal HUP web >/dev/null 2>&1 || supervisorctl start web
supervisorctl restart worker
echo "deployed $release as $(basename "$dir")"
REMOTE
  ;;
rollback)
  remote "$app" <<'REMOTE'
set -euo pipefail
app=$1
live=$(basename "$(readlink "$app/current")")
previous=$(ls -1 "$app/releases" | sort | grep -x -B1 "$live" | head -n 1)
if [ "$previous" = "$live" ]; then echo "no release before $live" >&2; exit 1; fi
ln -sfn "$app/releases/$previous" "$app/current.new" && mv -T "$app/current.new" "$app/current"
supervisorctl signal HUP web >/dev/null
supervisorctl restart worker
echo "rolled back from $live to $previous"
REMOTE
  ;;
*)
  echo "usage: deploy.sh deploy RELEASE | rollback" >&2
  exit 2
  ;;
esac
