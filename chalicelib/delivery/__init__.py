"""Post-call delivery: a finished call's results pushed to every channel its agent asks for.

``events``    the ``call.completed`` event (built once per call, versioned JSON Schema in docs/events/)
``fanout``    one delivery per matching post-call action, created idempotently on (call, action)
``sender``    one attempt of one delivery: lease, send, record, schedule the retry or give up
``retry``     the retry schedule (Svix-like, with jitter)
``channels``  one module per channel (webhook, email, slack, salesforce, hubspot, cloud_whatsapp)
``safe_http`` outbound HTTP that refuses private targets after DNS resolution (SSRF), one deadline per
              exchange (``deadlines``), messages free of credentials (``http_messages``)
``payloads``  webhook bodies; ``templates`` renders ``payload_template`` in linear time, size-bounded
``sealed_urls`` target URLs that are secrets (Slack webhooks, ``user:pass@``): sealed, shown masked
"""
