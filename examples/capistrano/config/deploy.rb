# How shop is deployed. gameday passes the replica's SSH details, deploy path and git URL
# as GAMEDAY_* environment variables; on a real VM these would be fixed values.
lock "~> 3.17"

set :application, "shop"
set :repo_url, ENV.fetch("GAMEDAY_REPO_URL")
set :deploy_to, ENV.fetch("GAMEDAY_DEPLOY_TO")
set :branch, ENV.fetch("RELEASE", "main")
set :linked_files, [".env"]
set :linked_dirs, ["storage", "log"]
# How many releases `deploy:cleanup` keeps; KEEP_RELEASES=1 on the command line rehearses a
# cleanup that removed the rollback target (examples/capistrano/keep-one.toml).
set :keep_releases, ENV.fetch("KEEP_RELEASES", "5").to_i
set :format_options, command_output: false, log_file: nil

namespace :shop do
  desc "Apply the new release's migrations (expand-only by convention), with the shared settings"
  task :migrate do
    on roles(:app) do
      execute "cd #{release_path} && set -a && . ./.env && python3 -m shop.migrate up"
    end
  end

  desc "Reload gunicorn gracefully (HUP) and restart the worker, from `current`"
  task :restart do
    on roles(:app) do
      if test("supervisorctl status web | grep -q RUNNING")
        execute :supervisorctl, "signal", "HUP", "web"
      else
        execute :supervisorctl, "start", "web"
      end
      execute :supervisorctl, "restart", "worker"
    end
  end
end

after "deploy:updated", "shop:migrate"
# Runs after a deploy's swap and after a rollback's.
after "deploy:published", "shop:restart"
