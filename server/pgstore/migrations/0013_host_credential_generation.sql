-- A number that only goes up, raised in the same transaction as every change that must end a
-- cached host credential: a revocation or a deletion (and any future credential change). Every
-- replica polls it (storesql.HostCredentialGeneration, a read of this one row) and
-- drops its credential cache when it moves. A count of revoked hosts could miss a revocation
-- undone in the same poll by the deletion of another revoked host, and never saw deletions.
-- Ingest never touches this row; revocations and deletions take its lock last, just before they
-- commit, so they queue on it only for their commit. It is not a sequence on purpose: nextval is
-- seen before the transaction commits, and a replica could re-cache the credential in between.
CREATE TABLE host_credential_generation (
    id         integer PRIMARY KEY CHECK (id = 1),
    generation bigint  NOT NULL
);
INSERT INTO host_credential_generation (id, generation) VALUES (1, 0);
