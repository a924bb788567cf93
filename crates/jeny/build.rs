//! The release binary's debug sections (jeny's own line tables, what a backtrace needs for file
//! and line) are compressed by the linker, with zlib: the binary stays under 60 MiB, and Rust's
//! backtraces still read them (they do not read zstd-compressed sections). Debug builds link as
//! they are, quickly.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    // GNU ld, gold, lld and mold take the flag; other platforms' linkers do not.
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
    }
}
