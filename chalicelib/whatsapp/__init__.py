"""WhatsApp voice calls through Meta's Cloud API (docs/whatsapp-calls.md): configuration, the Graph API client
for calls, the streaming service's ``/whatsapp`` endpoints, and hanging up from the streaming service."""
