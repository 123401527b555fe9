//! The build manifest: a signed bzip2 tar of the build's record, log and source.
