//! The lab's Debian base image (work in progress).
