-- Seed 000 workflows. A workflow is a pipeline (its versions hold the workflow document,
-- passwords masked, and the pipeline it becomes, so runs, logs and history are shared)
-- plus its credentials, sealed with the server's key (never stored in plaintext).
CREATE TABLE workflows (
    pipeline_id INTEGER PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    credentials BLOB    NOT NULL   -- XChaCha20-Poly1305: nonce ‖ ciphertext, bound to the name
);
