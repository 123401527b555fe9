//! The Secure Build Server (`shared/spec/sbs.md`): the protocol IBM's `build.py` speaks, over
//! mutual TLS, the build, its signed manifest and its state.

pub mod buildah;
pub mod manifest;
pub mod pipeline;
