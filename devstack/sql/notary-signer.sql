-- devstack's schema for notary-signer on PostgreSQL, written from the GORM model
-- GormPrivateKey in notary's signer/keydbstore/sql_keydbstore.go and its postgresql
-- migration. Private keys are stored JWE-encrypted under the passphrase that
-- `passphrase_alias` names (the signer reads it from NOTARY_SIGNER_<ALIAS>).
CREATE TABLE private_keys (
    id                serial       PRIMARY KEY,
    created_at        timestamp,
    updated_at        timestamp,
    deleted_at        timestamp,
    key_id            varchar(255) NOT NULL,
    encryption_alg    varchar(255) NOT NULL,
    keywrap_alg       varchar(255) NOT NULL,
    algorithm         varchar(50)  NOT NULL,
    passphrase_alias  varchar(50)  NOT NULL,
    gun               varchar(255) NOT NULL,
    role              varchar(255) NOT NULL,
    public            bytea        NOT NULL,
    private           bytea        NOT NULL,
    last_used         timestamp,
    CONSTRAINT private_keys_one_id UNIQUE (key_id),
    CONSTRAINT private_keys_one_id_per_algorithm UNIQUE (key_id, algorithm)
);
