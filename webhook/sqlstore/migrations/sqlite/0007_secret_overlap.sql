-- A rotation's overlap (webhook.Endpoint.PreviousSecretsUntil): the
-- secrets after the first sign beside it until then; NULL: always.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secrets_until TIMESTAMP;
