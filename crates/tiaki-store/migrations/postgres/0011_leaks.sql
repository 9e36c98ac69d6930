-- Leak tracing: keyed fingerprints of each document's plaintext, kept at upload, so a
-- leaked file (even re-saved, its metadata stripped) can be matched to its document.
-- Same shape as the SQLite migration.

-- One fingerprint: HMAC-SHA256 under a key derived from the keyring, so this table
-- alone reveals nothing about any document. kind 'file' is every byte as uploaded;
-- 'pdf_stream' one decoded page content stream or image of a PDF; 'pixels' an image's
-- decoded pixels. A document has at least its 'file' fingerprint once indexed.
CREATE TABLE document_fingerprints (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('file', 'pdf_stream', 'pixels')),
    digest      bytea NOT NULL CHECK (length(digest) = 32),
    PRIMARY KEY (document_id, kind, digest)
);

-- Matching looks fingerprints up by digest.
CREATE INDEX document_fingerprints_by_digest ON document_fingerprints (digest);
