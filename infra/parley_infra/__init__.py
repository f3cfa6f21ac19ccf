"""Parley's AWS infrastructure as a CDK v2 app.

The modules each own one concern: ``settings`` (stage naming and context), ``tables`` (DynamoDB tables
derived from the PynamoDB models), ``queues`` (SQS queues, DLQs and alarms from ``chalicelib.queues``),
``keys`` (KMS keys), ``stream_secret`` (the stream-token secret), ``permissions`` (least-privilege IAM
statements), ``gateway_responses`` (gateway-level error bodies), ``api`` (the Chalice app),
``event_sources`` (the SQS consumers' event sources), ``streaming`` (the Fargate streaming service, its
ALB, recordings bucket and calls bus), ``delivery`` (post-call delivery: the ``call.completed`` rule, the
delivery settings' environment and email permissions), ``web_media`` (web calls: the ``/web/offer``
route and the TURN relay; its settings in ``web_media_settings``), ``whatsapp_media`` (WhatsApp calls: the
``/whatsapp`` endpoints' route and the task's hang-up grants), ``checks`` (Parley's synth-time
template checks), ``nag`` (cdk-nag checks and acknowledgments), ``stack`` (the composition) and ``build``
(one call that assembles an app).
"""
