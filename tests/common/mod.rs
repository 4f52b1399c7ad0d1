//! Helpers shared by the integration tests. Each test crate uses a part of them.
#![allow(dead_code)]

pub mod alembic;
pub mod server_db;

/// Runs `git ARGS` in `dir` as a test user (no signing, `main` as the first branch,
/// the environment's GIT_DIR ignored); its standard output. Fails the test when
/// git fails.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
