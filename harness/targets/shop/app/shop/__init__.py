"""The reference app for gameday: orders over HTTP and a PostgreSQL job queue."""
