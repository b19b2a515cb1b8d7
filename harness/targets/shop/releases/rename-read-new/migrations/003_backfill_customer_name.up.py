"""Backfill: copy customer into customer_name for the rows written before both were
written, in small batches, each its own transaction, so traffic keeps flowing."""

import time

BATCH = 200
PAUSE_S = 0.05


def up(conn):
    conn.commit()
    total = 0
    while True:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE orders SET customer_name = customer WHERE id IN "
                "(SELECT id FROM orders WHERE customer_name IS NULL ORDER BY id LIMIT %s "
                "FOR UPDATE SKIP LOCKED)",
                (BATCH,),
            )
            done = cur.rowcount
        conn.commit()
        total += done
        if done == 0:
            break
        time.sleep(PAUSE_S)
    print(f"backfilled {total} rows in batches of {BATCH}", flush=True)
