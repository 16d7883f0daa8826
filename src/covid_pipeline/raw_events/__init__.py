"""Raw-bucket upload -> Glue job run: the service behind lambda/s3_event_handler.py (SQS batches of S3 events).

Per batch:

1. parse (``events``): every SQS record (Powertools' ``SQSRecord``) into an ``SqsMessage`` holding the objects of its
   S3 notification (S3 -> SQS or S3 -> SNS -> SQS); a malformed record raises ``MalformedEventError`` (a ValueError
   that says what was wrong) and is reported alone as a batch item failure, so SQS redelivers it and, after
   maxReceiveCount, moves it to the DLQ;
2. validate (``settings.classify``): each object against the raw layout ``<RAW_PREFIX><source>/<file><suffix>``; an
   object that does not belong there is ignored with a logged reason (no run);
3. trigger (``trigger.JobTrigger``): an object already processed needs no run (a SUCCEEDED run started after its
   upload, or the job's ledger holds this version: same size and ETag); otherwise one claim per object version
   (``claims``: a conditional put, so a duplicate delivery starts at most one run), then ONE Glue run per source in
   the batch (the job picks up every raw object not yet in its ledger). A start that fails releases the claims.
   When the job is merely busy (ConcurrentRunsExceededException, throttling) each message is sent again with a delay
   (a fresh copy, so waiting for a long run never counts towards maxReceiveCount); any other start failure, or a
   failed re-send, reports the message as a batch item failure. Nothing is lost either way.

The function is deployed with ``function_response_types = ["ReportBatchItemFailures"]``; it needs glue:StartJobRun +
glue:GetJobRuns on the job, s3:GetObject/PutObject/DeleteObject on the claims prefix, s3:GetObject on the jobs'
ledgers (``STATE_PREFIX<source>/ledger.json``), and sqs:SendMessage + sqs:GetQueueUrl on its queue. Its environment
is read by ``settings.Settings.from_env``. Oversized objects are not its business: the job, which can measure them,
quarantines them as ``too_large``.
"""
