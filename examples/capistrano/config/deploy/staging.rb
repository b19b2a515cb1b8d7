# The staging replica gameday built: SSH on loopback with the run's own key, host key checked.
server ENV.fetch("GAMEDAY_SSH_HOST"),
       port: Integer(ENV.fetch("GAMEDAY_SSH_PORT")),
       user: ENV.fetch("GAMEDAY_SSH_USER"),
       roles: %w[app web db]

set :ssh_options, {
  keys: [ENV.fetch("GAMEDAY_SSH_KEY")],
  keys_only: true,
  auth_methods: %w[publickey],
  user_known_hosts_file: ENV.fetch("GAMEDAY_SSH_KNOWN_HOSTS"),
  verify_host_key: :always,
}
