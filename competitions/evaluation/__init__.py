"""The pipeline of a submission: claim with a lease, run, record, recover.

``transitions`` holds the status changes of a running submission as guarded UPDATEs,
``lease`` keeps a claimed run's lease alive, ``recovery`` returns runs of dead workers to
the queue and re-enqueues lost deliveries, ``workers`` records which worker consumes which
queue, ``retention`` bounds the disk kept per submission.
"""
