//! What the timing examples share: the tests' emulator and proxy, and the root they need.

#[path = "../../tests/emulator.rs"]
#[allow(dead_code)]
pub mod emulator;
#[path = "../../tests/proxy.rs"]
#[allow(dead_code)]
pub mod proxy;

/// What tests/emulator.rs expects beside it (the test crate's `test::root`).
pub mod test {
    pub fn root() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}
