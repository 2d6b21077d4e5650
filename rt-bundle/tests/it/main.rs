//! Integration tests: rt-bundle against a real registry (Debian's
//! docker-registry, started per test on 127.0.0.1 with its storage in a
//! temp dir), images the tests build and push with skopeo, a token server
//! of our own, and layer tars made to attack the unpacker.

mod auth;
mod cli;
mod common;
mod layers;
mod malicious;
mod overlay;
mod pull;
mod sources;
