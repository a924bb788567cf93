//! Builds the web app (`web/`, TypeScript and Vite) into `web/dist/`, which `src/lib.rs` embeds.
//! It runs `npm ci` when `node_modules` is missing or older than `package-lock.json`, then
//! `npm run build`, and only when something under `web/` that the build reads has changed.
//! `JENY_SKIP_WEB_BUILD=1` embeds `web/dist/` as it is (the test script builds the app itself
//! first, and an engineer changing only Rust need not wait for npm); a placeholder page stands in
//! when there is no build at all.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest_dir.join("../../web");
    let dist = web.join("dist");
    println!("cargo:rerun-if-env-changed=JENY_SKIP_WEB_BUILD");
    for input in [
        "src",
        "public",
        "scripts",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    let skip = std::env::var("JENY_SKIP_WEB_BUILD").is_ok_and(|value| value == "1");
    if !skip {
        build(&web);
    }
    if !dist.join("index.html").exists() {
        write_placeholder(&dist);
    }
}

fn build(web: &Path) {
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    if !modified_after(&installed, &lock) {
        npm(web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    npm(web, &["run", "--silent", "build"]);
}

/// Whether `file` exists and was modified after `than` (or `than` does not exist).
fn modified_after(file: &Path, than: &Path) -> bool {
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    match (modified(file), modified(than)) {
        (Some(file), Some(than)) => file >= than,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

fn npm(web: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(web)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "`npm {}` in {} failed ({status}); fix the web app, or set JENY_SKIP_WEB_BUILD=1 to embed web/dist as it is",
            args.join(" "),
            web.display()
        ),
        Err(error) => panic!(
            "cannot run npm ({error}): building jeny needs Node.js and npm for its web app (web/), or JENY_SKIP_WEB_BUILD=1"
        ),
    }
}

fn write_placeholder(dist: &Path) {
    std::fs::create_dir_all(dist).expect("create web/dist");
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>jeny</title>\
         <body><h1>jeny is running</h1><p>This binary was built without its web app \
         (JENY_SKIP_WEB_BUILD=1 and no web/dist). The API is at <code>/api/v1</code>.</p></body></html>\n",
    )
    .expect("write the placeholder page");
}
