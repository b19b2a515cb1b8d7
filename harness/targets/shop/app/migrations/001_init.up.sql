CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    item text NOT NULL,
    qty integer NOT NULL,
    customer text NOT NULL DEFAULT '',
    paid boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    order_id bigint NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    worker text,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX jobs_pending ON jobs (id) WHERE status = 'pending';
CREATE TABLE payments (
    id bigserial PRIMARY KEY,
    order_id bigint NOT NULL,
    job_id bigint NOT NULL,
    paid_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE worker_heartbeat (
    worker text PRIMARY KEY,
    beat_at timestamptz NOT NULL
);
-- Feature flags, read on every request that a flag guards: a flag is on for `percent`
-- of users (0 to 100), bucketed by a hash of the flag and the user.
CREATE TABLE flags (
    name text PRIMARY KEY,
    percent integer NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100)
);
