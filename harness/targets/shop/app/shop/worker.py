"""The background worker: takes charge jobs with SKIP LOCKED and pays each order once."""

import os
import signal
import socket
import subprocess
import sys
import time

import psycopg2

from shop import applog, config, db, gateway, schema

SETTINGS = config.load()
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
RELEASE = config.revision()["release"]  # the release directory this worker's code came from
POLL_S = 0.2
# The job kinds this release's worker knows; a job of any other kind waits for a worker that does.
JOB_KINDS = getattr(schema, "JOB_KINDS", ("charge",))
stopping = False


def stop(signum, frame):
    global stopping
    stopping = True


def beat(conn):
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO worker_heartbeat (worker, beat_at) VALUES (%s, now()) "
            "ON CONFLICT (worker) DO UPDATE SET beat_at = now()",
            (WORKER_ID,),
        )
    conn.commit()


def work_one(conn):
    """Process one pending job in one transaction; a crash leaves it pending."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, order_id FROM jobs WHERE status = 'pending' AND kind = ANY(%s) "
            "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
            (list(JOB_KINDS),),
        )
        job = cur.fetchone()
        if job is None:
            conn.rollback()
            return False
        job_id, order_id = job
        applog.log("info", "job_started", job=job_id, order=order_id, worker=WORKER_ID)
        cur.execute("UPDATE jobs SET attempts = attempts + 1, started_at = now() WHERE id = %s", (job_id,))
        gateway.charge(order_id)
        cur.execute("UPDATE orders SET paid = true WHERE id = %s AND NOT paid RETURNING id", (order_id,))
        if cur.fetchone() is not None:
            cur.execute("INSERT INTO payments (order_id, job_id) VALUES (%s, %s)", (order_id, job_id))
        cur.execute(
            "UPDATE jobs SET status = 'done', finished_at = now(), worker = %s WHERE id = %s",
            (WORKER_ID, job_id),
        )
    conn.commit()
    applog.log("info", "job_done", job=job_id, order=order_id, worker=WORKER_ID, release=RELEASE)
    return True


def wrap():
    """Start the real worker as a child and wait for it, as a wrapper script that does not
    `exec` does (a release sets WORKER_WRAPPER=1 to rehearse it). A stop signal ends this
    process only: the child goes on taking jobs with this release's code."""
    child = subprocess.Popen([sys.executable, "-m", "shop.worker"], env={**os.environ, "SHOP_WORKER_CHILD": "1"})
    sys.exit(child.wait())


def main():
    if SETTINGS.get("WORKER_WRAPPER") == "1" and not os.environ.get("SHOP_WORKER_CHILD"):
        wrap()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    conn = None
    while not stopping:
        try:
            if conn is None or conn.closed:
                conn = db.connect(SETTINGS)
            beat(conn)
            while not stopping and work_one(conn):
                beat(conn)
        except psycopg2.Error as exc:
            print(f"worker: database error: {exc}".strip(), flush=True)
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(1)
        time.sleep(POLL_S)


if __name__ == "__main__":
    main()
