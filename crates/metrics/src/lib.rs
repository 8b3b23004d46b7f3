//! Tenure's metric definitions (SPEC section 2), as pure functions over the
//! domain model (or Arrow arrays for usage events). A reader should find any
//! metric's definition in one file, next to its tests. No I/O here: the CLI
//! and the server load data from the store and call these.

pub mod engagement;
pub mod health;
pub mod revenue;
pub mod round;
pub mod support;
pub mod voice;
