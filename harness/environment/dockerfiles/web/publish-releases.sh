#!/bin/sh
# Publish the release builds as a git repository the host can clone: one commit per
# release in deploy order (BUILDS/ORDER), each tagged with the release's name, on branch
# main. Dates are fixed, so the same releases always get the same commit ids.
# Usage: publish-releases BUILDS REPOSITORY
set -eu
builds=$1 repo=$2
work=$(mktemp -d)
export GIT_AUTHOR_NAME=gameday GIT_AUTHOR_EMAIL=gameday@localhost \
       GIT_COMMITTER_NAME=gameday GIT_COMMITTER_EMAIL=gameday@localhost \
       GIT_AUTHOR_DATE=2000-01-01T00:00:00Z GIT_COMMITTER_DATE=2000-01-01T00:00:00Z
git init --quiet --bare --initial-branch=main "$repo"
git init --quiet --initial-branch=main "$work"
while read -r release; do
  find "$work" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
  cp -a "$builds/$release/." "$work/"
  # A fresh index: files copied with the same size and time as the last release's would
  # otherwise look unchanged to git. --force: a release's .gitignore must not drop files.
  rm -f "$work/.git/index"
  git -C "$work" add --all --force
  git -C "$work" commit --quiet --allow-empty --message "release $release"
  git -C "$work" tag "$release"
done < "$builds/ORDER"
git -C "$work" push --quiet "$repo" main --tags
rm -rf "$work"
chown -R deploy:deploy "$repo"
