"""The processing core both runtimes drive: events through the stages into rows, rows into
ClickHouse, then what may be committed.

- ``step.EventStep``: one enriched event through sessionize + stitch
  (``pipeline.stages.chain``) with its visitor's state, read and written through a
  ``ports.VisitorStates``; its rows go to a ``ports.Outputs`` (a ``batch.RowBatch``, or the
  Kafka process agent's records to publish); an event the stages cannot process becomes a dead
  letter (``ports.DeadLetters``) and the state is left as it was.
- ``batch.RowBatch``: the rows of one batch (events, sessions, identity links, user updates,
  dead letters), the one batch class of both runtimes.
- ``sink.RowSink``: ``add`` a batch's rows, ``flush`` inserts them in order through a
  ``ports.BlockWriter`` (ClickHouse), retried by ``pipeline.retries.insert`` until they are
  in — never skipped — then records the metrics. Only after a flush returns does a driver
  commit (``ports.Committer``): the embedded runtime checkpoints state and spool offset, the
  Kafka sink agent lets ``take_events`` ack the records. With ``ports.Notices``
  (``pipeline.notify.outbox``), the pending notification deliveries of a batch's events go
  into ClickHouse in the same flush (so before the commit), and to the delivery worker once in.

The drivers: ``runtime.processor`` (embedded: the spool) and ``runtime.faust_process`` /
``runtime.faust_sink`` (Kafka: Faust agents). The core knows neither spool nor Kafka.
"""
