"""The pipeline of a submission: claim with a lease, run, record, recover.

``pipeline`` takes a submission through data preparation, the sandbox and the scorer and
records the result (and rescores kept predictions), ``tasks`` holds its Celery tasks (names
``scoring.*``, stable), ``data`` unpacks competition data for the worker's engine,
``metric`` resolves a competition's metric, ``confidence`` computes the leaderboard's
bootstrap intervals.

``transitions`` holds the status changes of a running submission as guarded UPDATEs,
``lease`` keeps a claimed run's lease alive, ``recovery`` returns runs of dead workers to
the queue and re-enqueues lost deliveries, ``workers`` records which worker consumes which
queue, ``retention`` bounds the disk kept per submission.
"""
