"""The HTTP endpoints, one router per concern; handlers translate HTTP to the service
(:class:`llmrec.app.Service`) and back, nothing more."""
