//! What rt shares with rt-bundle: the default container config. The runtime
//! itself is the `rt` binary (src/main.rs and its module tree).

pub mod defaults;
