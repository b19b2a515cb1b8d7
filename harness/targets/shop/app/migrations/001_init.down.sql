DROP TABLE flags, worker_heartbeat, payments, jobs, orders;
