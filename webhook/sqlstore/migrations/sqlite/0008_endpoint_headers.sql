-- Headers sent with every delivery (a JSON object of names to values),
-- and the sealed authentication (webhook.EndpointAuth) of the endpoint's
-- receiver; NULL: none.
ALTER TABLE webhook_endpoints ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
ALTER TABLE webhook_endpoints ADD COLUMN auth BLOB;
