"""Nothing to undo: the backfill only filled the new column, which the expand's down drops."""


def down(conn):
    pass
