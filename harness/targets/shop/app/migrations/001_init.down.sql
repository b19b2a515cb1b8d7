DROP TABLE worker_heartbeat, payments, jobs, orders;
