-- devstack's schema for notary-server on PostgreSQL, written from the GORM models in
-- notary's server/storage/sql_models.go (TUFFile, SQLChange) and its postgresql migrations.
-- Column names are the ones GORM derives; gorm.Model adds id and the three timestamps, and
-- rows whose deleted_at is set count as deleted.

-- Every version of every TUF file of every collection (GUN).
CREATE TABLE tuf_files (
    id          serial       PRIMARY KEY,
    created_at  timestamp,
    updated_at  timestamp,
    deleted_at  timestamp,
    gun         varchar(255) NOT NULL,
    role        varchar(255) NOT NULL,
    version     integer      NOT NULL,
    sha256      char(64),
    data        bytea        NOT NULL,
    CONSTRAINT tuf_files_one_version UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_by_sha256 ON tuf_files (sha256);

-- The change feed (`/v2/_trust/changefeed`): one row per new timestamp or deleted GUN.
CREATE TABLE changefeed (
    id          serial       PRIMARY KEY,
    created_at  timestamp    DEFAULT now(),
    gun         varchar(255) NOT NULL,
    version     integer      NOT NULL,
    sha256      char(64),
    category    varchar(20)  NOT NULL DEFAULT 'update'
                CHECK (category IN ('update', 'deletion'))
);
CREATE INDEX changefeed_by_gun ON changefeed (gun);
