"""The OpenAI-compatible HTTP server: `assistant serve`, built by `app.create_app`.

Modules: app (the factory), endpoints (the handlers), wire (request and response bodies),
errors (OpenAI's error shape), aliases (OpenAI's names for local models and voices),
uploads (bounded bodies, multipart in memory), encoding (streamed audio formats),
workers (one thread and a bounded queue per model), security (bind check, API key), cli.
Nothing heavy is imported here, so the CLI starts fast.
"""
